"""Headers every answer gets right, whichever view or error handler made it.

``Cache-Control: no-store`` on anything that may carry a caller's data (SPEC §4:
authenticated responses are not stored), and no ``Content-Type`` on an answer
that has no body (RFC 9110 §8.3).
"""

from __future__ import annotations

from flask import Flask, Response, request

# endpoints whose answers carry no caller data and may be cached
CACHEABLE_ENDPOINTS = frozenset({"docs.show", "openapi.get_document", "static"})


def init_app(app: Flask) -> None:
    """Install both hooks on ``app``."""
    app.after_request(forbid_caching)
    app.after_request(drop_body_headers_without_body)


def forbid_caching(response: Response) -> Response:
    """``Cache-Control: no-store`` on everything that may carry a caller's data."""
    if request.endpoint not in CACHEABLE_ENDPOINTS:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def drop_body_headers_without_body(response: Response) -> Response:
    """A 204 or 304 has no body, so no ``Content-Type`` (RFC 9110 §8.3, §15.3.5).

    Neither has Flask's automatic ``OPTIONS`` answer (a 200 with ``Allow`` and
    no content), which would otherwise claim to be ``text/html``.
    """
    is_empty_options = request.method == "OPTIONS" and response.calculate_content_length() == 0
    if response.status_code in (204, 304) or is_empty_options:
        response.headers.pop("Content-Type", None)
    return response
