"""What runs around every view: one before-request hook and one after-request hook (SPEC §4, §6).

Before the view: the request id and clock (``cashman.request_log``), a method sent
in other than upper case, a ``Host`` field missing or repeated and a transfer coding
other than ``chunked`` refused, then the CORS preflight answer (``cashman.cors``).
After it, in this order: the body headers, ``Cache-Control`` and ``Accept-Patch``
(``cashman.response_hooks``), CORS headers and ``Vary``, then the request id header
and the request's log line, last so that it sees the final status.

They were seven hooks; Flask runs each through ``ensure_sync`` and reads ``request``
and ``g`` through their context proxies inside each, which on ``/ping`` cost more than
the view. Here the request and ``g`` are looked up once and handed to each part.
An exception in a part ends the hook as it ended the chain of separate hooks: Flask
answers 500 and runs the after hook again on that answer, so the line is still written.
"""

from __future__ import annotations

from flask import Flask, Request, Response, g, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from cashman import cors, request_log, response_hooks
from cashman.errors import HostFieldError, InvalidFramingError, UnsupportedTransferCodingError


def init_app(app: Flask, cors_origins: tuple[str, ...]) -> None:
    """Install the two hooks on ``app`` (first before the view, last after it), with CORS
    for ``cors_origins`` (see ``cors.init_app``)."""
    request_log.configure_logging()
    cors_after = cors.init_app(app, cors_origins)

    def before_request() -> Response | None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        # first: the clock and the id exist before anything can fail
        request_log.start_request(req, g._get_current_object())  # type: ignore[attr-defined]
        if req.environ["REQUEST_METHOD"] != req.method:
            refuse_method_as_sent(app, req)
        refuse_bad_host_field(req.environ)
        if "HTTP_TRANSFER_ENCODING" in req.environ:
            refuse_transfer_coding(req.environ)
        return cors.answer_preflight(req)

    def after_request(response: Response) -> Response:
        req = request._get_current_object()  # type: ignore[attr-defined]
        response = response_hooks.drop_body_headers_without_body(req, response)
        response = response_hooks.forbid_caching(req, response)
        response = response_hooks.advertise_patch_format(req, response)
        if cors_after is not None:
            response = cors_after(req, response)
        state = g._get_current_object()  # type: ignore[attr-defined]
        return request_log.log_request(req, state, response)

    app.before_request_funcs.setdefault(None, []).insert(0, before_request)
    # Flask runs after-request hooks last-registered first: at the front, this one ends
    # the chain whatever is registered later, so the line has the final status
    app.after_request_funcs.setdefault(None, []).insert(0, after_request)


def refuse_method_as_sent(app: Flask, req: Request) -> None:
    """A method the server passed on as sent but not in upper case (``get``) is an
    unknown method: 405 with the methods the path allows, 404 on an unknown path (as
    for any unknown method).

    Methods are case-sensitive (RFC 9110 §9.1): ``get`` is not ``GET``. gunicorn's parser
    refuses such a request line itself (400); granian passes it on, and werkzeug
    upper-cases it, so it would be routed, and answered, as ``GET``. Raises
    ``MethodNotAllowed`` or ``NotFound``.
    """
    allowed = app.url_map.bind_to_environ(req.environ).allowed_methods()
    if not allowed:
        raise NotFound()
    raise MethodNotAllowed(valid_methods=sorted(allowed))


def refuse_bad_host_field(environ: dict) -> None:
    """RFC 9112 §3.2: an HTTP/1.1 request with no ``Host`` field, or with more than one,
    is a 400 (``HostFieldError``). gunicorn refuses two itself and passes none on as
    absent; granian passes none on as empty and two joined by a comma, which no single
    ``host[:port]`` holds. HTTP/1.0 may omit it."""
    host = environ.get("HTTP_HOST")
    if (not host and environ.get("SERVER_PROTOCOL") == "HTTP/1.1") or (host and "," in host):
        raise HostFieldError()


def refuse_transfer_coding(environ: dict) -> None:
    """RFC 9112 §6.1, §6.3: ``Transfer-Encoding`` is ``chunked`` alone, the one coding the
    servers decode. Another coding before it is ``UnsupportedTransferCodingError`` (501:
    a body labelled ``gzip, chunked`` was read as if it were not compressed); a last
    coding other than ``chunked``, or any on HTTP/1.0, is ``InvalidFramingError`` (400).
    Both close the connection."""
    codings = [coding.strip().lower() for coding in environ["HTTP_TRANSFER_ENCODING"].split(",")]
    if environ.get("SERVER_PROTOCOL") == "HTTP/1.0" or codings[-1] != "chunked":
        raise InvalidFramingError()
    if len(codings) > 1:
        raise UnsupportedTransferCodingError()
