"""CORS for the browser apps named in ``CORS_ORIGINS``, and only them (SPEC §4, CORS).

flask-cors answers with the allowed origin, methods and headers; this module adds
what it leaves out: a preflight to any path is a 204 (so the browser can read the
actual request's JSON 404), and ``Vary: Origin`` on every answer, allowed or not
(caches must not hand one origin's answer to another).
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_cors import CORS

METHODS = ["GET", "POST", "PATCH", "DELETE", "OPTIONS"]
# DPoP carries the proof (RFC 9449 §4.1); DPoP-Nonce brings the server's nonce (§8.1)
REQUEST_HEADERS = ["Authorization", "Content-Type", "DPoP", "Idempotency-Key", "X-Request-ID"]
EXPOSED_HEADERS = [
    "DPoP-Nonce",
    "Location",
    "Link",
    "WWW-Authenticate",
    "Retry-After",
    "X-Request-ID",
]
MAX_AGE_S = 600


def init_app(app: Flask, origins: tuple[str, ...]) -> None:
    """Answer preflights on ``app``; with ``origins`` (exact, lower-case ``scheme://host
    [:port]``), allow those origins without credentials; with none, no cross-origin access."""
    app.before_request(answer_preflight)
    if not origins:
        return
    CORS(
        app,
        origins=list(origins),
        methods=METHODS,
        allow_headers=REQUEST_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        supports_credentials=False,
        max_age=MAX_AGE_S,
        always_send=False,
        # Vary is ours (vary_on_origin): flask-cors would add a second "Origin"
        vary_header=False,
    )
    app.after_request(vary_on_origin)


def answer_preflight() -> Response | None:
    """Every CORS preflight is a 204, whatever the path: flask-cors then adds its headers.

    Runs before routing errors are raised: a preflight to an unknown URL answered
    404 would make the browser fail the actual request as a network error, so it
    could never read that request's JSON 404.
    """
    is_preflight = (
        request.method == "OPTIONS"
        and "Origin" in request.headers
        and "Access-Control-Request-Method" in request.headers
    )
    return Response(status=204) if is_preflight else None


def vary_on_origin(response: Response) -> Response:
    """Allowed or not, the CORS headers depend on ``Origin`` (flask-cors omits it for one)."""
    response.vary.add("Origin")
    return response
