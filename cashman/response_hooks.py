"""Headers every answer gets right, whichever view or error handler made it.

``Cache-Control: no-store`` on anything that may carry a caller's data (SPEC §4:
authenticated responses are not stored), and no ``Content-Type`` on an answer
that has no body (RFC 9110 §8.3), and ``Accept-Patch`` where RFC 5789 asks for it.
``cashman.request_cycle`` calls them after every request.
"""

from __future__ import annotations

from flask import Request, Response

# endpoints whose answers carry no caller data and may be cached
CACHEABLE_ENDPOINTS = frozenset({"docs.show", "openapi.get_document", "static"})
PATCH_FORMAT = "application/json"


def forbid_caching(req: Request, response: Response) -> Response:
    """``Cache-Control: no-store`` on everything that may carry a caller's data."""
    if req.endpoint not in CACHEABLE_ENDPOINTS:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def drop_body_headers_without_body(req: Request, response: Response) -> Response:
    """A 204 or 304 has no body, so no ``Content-Type`` (RFC 9110 §8.3, §15.3.5).

    Neither has Flask's automatic ``OPTIONS`` answer (a 200 with ``Allow`` and
    no content), which would otherwise claim to be ``text/html``.
    """
    is_empty_options = req.method == "OPTIONS" and response.calculate_content_length() == 0
    if response.status_code in (204, 304) or is_empty_options:
        response.headers.pop("Content-Type", None)
    return response


def advertise_patch_format(req: Request, response: Response) -> Response:
    """``Accept-Patch: application/json`` (the one body a PATCH takes: the fields to
    change) on the ``OPTIONS`` answer of a resource that allows PATCH (RFC 5789 §3.1) and
    on a PATCH refused for its media type (§2.2: a 415 SHOULD carry it); not on a 415
    for a content coding, which is no question of format."""
    method = req.method
    refused_format = method == "PATCH" and response.status_code == 415
    if (method == "OPTIONS" and "PATCH" in response.allow) or (
        refused_format and "Accept-Encoding" not in response.headers
    ):
        response.headers["Accept-Patch"] = PATCH_FORMAT
    return response
