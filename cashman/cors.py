"""CORS for the browser apps named in ``CORS_ORIGINS``, and only them (SPEC §4, CORS).

flask-cors answers with the allowed origin, methods and headers; this module adds
what it leaves out: a preflight to any path is a 204 (so the browser can read the
actual request's JSON 404), and ``Vary: Origin`` on every answer, allowed or not
(caches must not hand one origin's answer to another).

flask-cors does nothing for a request without an ``Origin`` header (no CORS headers
unless ``always_send``, which is off), yet matching its resources costs a few
microseconds on every request; its after-request function runs only when there is
an ``Origin`` to answer. ``cashman.request_cycle`` calls these functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask, Request, Response
from flask_cors import CORS

METHODS = ["GET", "POST", "PATCH", "DELETE", "OPTIONS"]
# DPoP carries the proof (RFC 9449 §4.1); DPoP-Nonce brings the server's nonce (§8.1)
REQUEST_HEADERS = ["Authorization", "Content-Type", "DPoP", "Idempotency-Key", "X-Request-ID"]
# Beyond the SPEC's list, what the API sends for a client to act on: Allow (405, RFC 9110
# §15.5.6), Accept, Accept-Encoding and Accept-Patch (415, §15.5.16; RFC 5789 §2.2). None
# is CORS-safelisted (Fetch §3.2.4), so a browser app could not read them otherwise.
EXPOSED_HEADERS = [
    "Accept",
    "Accept-Encoding",
    "Accept-Patch",
    "Allow",
    "DPoP-Nonce",
    "Location",
    "Link",
    "WWW-Authenticate",
    "Retry-After",
    "X-Request-ID",
]
MAX_AGE_S = 600


AfterRequest = Callable[[Request, Response], Response]


def init_app(app: Flask, origins: tuple[str, ...]) -> AfterRequest | None:
    """CORS for ``app``: with ``origins`` (exact, lower-case ``scheme://host[:port]``),
    allow those origins without credentials; with none, no cross-origin access.

    Returns what must run after every request (flask-cors's headers and ``Vary``), or
    None when there is nothing to do; ``answer_preflight`` must run before every one.
    """
    if not origins:
        return None
    hooks = app.after_request_funcs.setdefault(None, [])
    registered = len(hooks)
    CORS(
        app,
        origins=[exact_origin(origin) for origin in origins],
        methods=METHODS,
        allow_headers=REQUEST_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        supports_credentials=False,
        max_age=MAX_AGE_S,
        always_send=False,
        # Vary is ours (vary_on_origin): flask-cors would add a second "Origin"
        vary_header=False,
    )
    # flask-cors registered one after-request function (and wrapped the error handlers,
    # which stay as they are): it is taken back, to be run only when there is an Origin
    (flask_cors_headers,) = hooks[registered:]
    del hooks[registered:]

    def after_request(req: Request, response: Response) -> Response:
        if req.environ.get("HTTP_ORIGIN"):
            response = flask_cors_headers(response)
        return vary_on_origin(response)

    return after_request


def exact_origin(origin: str) -> re.Pattern[str]:
    """``origin`` as the pattern flask-cors matches exactly, case-insensitively (RFC 6454
    §4: scheme and host are case-insensitive). flask-cors reads a plain string holding
    ``[`` or ``]`` as a regular expression matched at the start only, so ``http://[::1]``
    allowed any origin starting ``http://`` then ``:`` or ``1`` (``http://1.evil.com``)."""
    return re.compile(re.escape(origin) + r"\Z", re.IGNORECASE)


def answer_preflight(req: Request) -> Response | None:
    """Every CORS preflight is a 204, whatever the path: flask-cors then adds its headers.

    Runs before routing errors are raised: a preflight to an unknown URL answered
    404 would make the browser fail the actual request as a network error, so it
    could never read that request's JSON 404.
    """
    if req.method != "OPTIONS":
        return None
    headers = req.environ
    is_preflight = "HTTP_ORIGIN" in headers and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in headers
    return Response(status=204) if is_preflight else None


def vary_on_origin(response: Response) -> Response:
    """Allowed or not, the CORS headers depend on ``Origin`` (flask-cors omits it for one)."""
    if "Vary" in response.headers:
        response.vary.add("Origin")
    else:
        response.headers["Vary"] = "Origin"
    return response
