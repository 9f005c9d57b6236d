"""One JSON error shape, ``{"code", "description"}``, for every 4xx and 5xx (SPEC §4).

Errors are classes (werkzeug ``HTTPException`` subclasses carrying a SPEC
``code``); the handlers below turn any of them, any other HTTP error, a
database outage and any bug into that shape, with an ``errors`` member per field
on a 422. Descriptions are fixed texts per case: never exception text, never a
traceback. (Token errors are ``auth``'s, in the same shape: SPEC §3.)
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from flask import Flask, Response, current_app
from sqlalchemy import exc as sa_exc
from werkzeug import exceptions as http_errors
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    NotFound,
    ServiceUnavailable,
    UnprocessableEntity,
    UnsupportedMediaType,
)

from cashman import app_events

# seconds a client is told to wait when the database is out of reach
RETRY_AFTER_S = 5

_GENERIC: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request is malformed."),
    401: ("unauthorized", "Authentication is required."),
    403: ("forbidden", "Not allowed."),
    404: ("not_found", "There is nothing at this URL."),
    405: ("method_not_allowed", "This method is not allowed on this URL; see Allow."),
    406: ("not_acceptable", "This API only produces application/json."),
    408: ("request_timeout", "The request took too long to arrive."),
    411: ("length_required", "A Content-Length is required."),
    413: ("payload_too_large", "The request body is larger than 64 KiB."),
    414: ("uri_too_long", "The URL is too long."),
    415: ("unsupported_media_type", "The request body must be application/json."),
    417: ("expectation_failed", "The Expect header cannot be met."),
    421: ("misdirected_request", "This server does not answer for the host in Host."),
    422: ("validation_error", "The request is invalid."),
    429: ("too_many_requests", "Too many requests; see Retry-After."),
    431: ("request_header_fields_too_large", "The request headers are too large."),
    500: ("internal_error", "Internal server error."),
    501: ("not_implemented", "The request uses something this server does not implement."),
    503: ("service_unavailable", "The service is unavailable; retry later."),
    505: ("http_version_not_supported", "The HTTP version is not supported."),
}


class InvalidJSONError(BadRequest):
    """400: the body is not JSON (bad syntax, not UTF-8; SPEC §4)."""

    error_code = "invalid_json"
    description = "The request body is not valid JSON."


class JSONTooDeepError(BadRequest):
    """400: the body may be valid JSON, but its arrays or objects nest deeper than the
    parser follows (about a thousand levels; a transaction nests none; SPEC §4)."""

    error_code = "invalid_json"
    description = "The request body's JSON nests too deeply."


class DuplicateMemberNamesError(BadRequest):
    """400: a JSON object in the body names a member twice (RFC 8259 §4, SPEC §4)."""

    error_code = "invalid_json"
    description = "The request body has duplicate member names."


class UnreadableBodyError(BadRequest):
    """400: the server could not deliver the body (broken chunking, client gone; SPEC §4)."""

    error_code = "invalid_body"
    description = "The request body could not be read."


class NotJSONError(UnsupportedMediaType):
    """415: the body's ``Content-Type`` is not JSON in UTF-8 (SPEC §4)."""

    error_code = "unsupported_media_type"
    description = "The request body must be application/json (UTF-8)."

    def get_headers(self, environ=None, scope=None):  # type: ignore[no-untyped-def]
        # RFC 9110 §15.5.16: Accept names what would have been taken. Not Accept-Encoding,
        # which §12.5.3 forbids on a 415 that is not about a content coding
        return [*super().get_headers(environ, scope), ("Accept", "application/json")]


class ContentCodingError(UnsupportedMediaType):
    """415: the body has a content coding (``Content-Encoding: gzip``...), which this API
    does not decode: read as it is, it would be refused as bad JSON, or a mislabelled
    body taken at face value (RFC 9110 §8.4, §15.5.16)."""

    error_code = "unsupported_content_encoding"
    description = "The request body must be sent without a Content-Encoding."

    def get_headers(self, environ=None, scope=None):  # type: ignore[no-untyped-def]
        # RFC 9110 §12.5.3: a 415 for a content coding ought to say which are accepted
        return [*super().get_headers(environ, scope), ("Accept-Encoding", "identity")]


class RequestValidationError(UnprocessableEntity):
    """422: the schema refused the body, query or headers; ``errors`` maps each field
    (``_schema`` for the whole body) to its messages (SPEC §4)."""

    error_code = "validation_error"
    description = "The request is invalid; see errors."

    def __init__(self, errors: dict[str, list[str]]) -> None:
        """``errors``: field name -> messages, as the answer's ``errors`` member."""
        super().__init__()
        self.errors = errors


class IdempotencyKeyReusedError(UnprocessableEntity):
    """422: an ``Idempotency-Key`` came back with a different request (SPEC §4)."""

    error_code = "idempotency_key_reused"
    description = "This Idempotency-Key was already used with a different request."


class TransactionNotFoundError(NotFound):
    """404: no transaction of this kind with this id belongs to the caller (SPEC §4)."""

    error_code = "not_found"
    description = "There is no such transaction."


class HostFieldError(BadRequest):
    """400: an HTTP/1.1 request without a ``Host`` field, or with more than one (RFC 9112
    §3.2: a server MUST answer so)."""

    error_code = "invalid_host"
    description = "An HTTP/1.1 request needs exactly one Host header."


class _ClosesConnection(HTTPException):
    """An answer after which the connection is closed: the body's framing is not one the
    server can be trusted to have read to its end (RFC 9112 §6.1, §6.3). The development
    server (``http.server``) closes on this header; granian and gunicorn read the framings
    that reach the app, chunked, to their end anyway."""

    def get_headers(self, environ=None, scope=None):  # type: ignore[no-untyped-def]
        return [*super().get_headers(environ, scope), ("Connection", "close")]


class UnsupportedTransferCodingError(_ClosesConnection, http_errors.NotImplemented):
    """501: a transfer coding before ``chunked`` (``gzip, chunked``): the servers decode
    only chunked (RFC 9112 §6.1: a server SHOULD answer 501 for a coding it does not
    understand). granian and the development server read such a body by its chunks and
    ignored the rest; gunicorn answers 501 for a coding it does not know."""

    error_code = "unsupported_transfer_coding"
    description = "The only transfer coding supported is chunked."


class InvalidFramingError(_ClosesConnection, BadRequest):
    """400: a ``Transfer-Encoding`` whose last coding is not ``chunked`` (RFC 9112 §6.3:
    the body's length cannot be known), or one on HTTP/1.0 (§6.1: faulty framing)."""

    error_code = "invalid_framing"
    description = "Send the body with Content-Length, or chunked as the last transfer coding."


class DatabaseUnavailableError(ServiceUnavailable):
    """503 with ``Retry-After``: the database is down, unreachable or locked (SPEC §5, §6)."""

    error_code = "database_unavailable"
    description = "The database is unavailable; retry later."


class NotReadyError(ServiceUnavailable):
    """503 with ``Retry-After`` from ``/readyz``: this instance cannot serve (SPEC §6)."""

    error_code = "not_ready"
    description = "The service is not ready to serve; retry later"

    def __init__(self, retry_after: int, errors: dict[str, list[str]]) -> None:
        """``errors``: what is not ready (``database``, ``issuer[<position>]``) and why."""
        super().__init__(retry_after=retry_after)
        self.errors = errors


# an outage, not a bug: connection refused or lost, pool exhausted, locked database
DATABASE_OUTAGES = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


def is_outage(error: sa_exc.InternalError) -> bool:
    """Whether a DB-API ``InternalError`` is an outage rather than a bug or corruption:
    a database that refuses writes (``ReadOnlySqlTransaction``: a standby after a
    fail-over, ``default_transaction_read_only``), or psycopg's own protocol error with
    no SQLSTATE, what a pooler restarting under it causes ("received 2 results from
    command 'BEGIN'"). The rest of the class (an aborted transaction, corrupted data)
    stays a 500 with its traceback."""
    driver_error = error.orig
    if isinstance(driver_error, psycopg.errors.ReadOnlySqlTransaction):
        return True
    return isinstance(driver_error, psycopg.InternalError) and driver_error.sqlstate is None


def error_response(
    status: int,
    code: str,
    description: str,
    *,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The JSON error response every failure ends as."""
    body: dict[str, Any] = {"code": code, "description": description}
    if errors is not None:
        body["errors"] = errors
    response = current_app.json.response(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def handle_http_exception(error: HTTPException) -> Response:
    """Any werkzeug HTTP error, ours or the framework's, as JSON."""
    status = error.code or 500
    if hasattr(error, "error_code"):
        code, description = error.error_code, error.description or ""
    else:
        code, description = _GENERIC.get(status) or _generic(error)
    # keep what the error adds (Allow on a 405, Retry-After on a 503), not its HTML type
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    errors = getattr(error, "errors", None)
    return error_response(status, code, description, errors=errors, headers=headers)


def handle_database_outage(error: Exception) -> Response:
    """The database is down or locked: 503 with Retry-After, never a hang or a 500."""
    # the driver's class says which outage (AdminShutdown, ReadOnlySqlTransaction, ...);
    # never the message: SQLAlchemy's quotes the statement and its parameters
    driver_error = getattr(error, "orig", None)
    detail = "" if driver_error is None else f" ({type(driver_error).__name__})"
    current_app.logger.warning("database unavailable: %s%s", type(error).__name__, detail)
    app_events.database_error.send(current_app._get_current_object(), error=type(error).__name__)
    return handle_http_exception(DatabaseUnavailableError(retry_after=RETRY_AFTER_S))


def handle_internal_database_error(error: sa_exc.InternalError) -> Response:
    """A 503 for the ``InternalError``s that are outages (``is_outage``), else a bug's 500."""
    return handle_database_outage(error) if is_outage(error) else handle_unexpected(error)


def handle_unexpected(error: Exception) -> Response:
    """A bug: logged with its traceback on the server, a bare 500 for the client."""
    current_app.logger.exception("unhandled error", exc_info=error)
    if isinstance(error, sa_exc.SQLAlchemyError):
        app = current_app._get_current_object()
        app_events.database_error.send(app, error=type(error).__name__)
    return handle_http_exception(InternalServerError())


def generic_error(status: int) -> tuple[str, str]:
    """(``code``, ``description``) of the error shape for a bare HTTP ``status`` (an answer
    with nothing more specific to say; ``bad_request`` for a 4xx this table lacks,
    ``internal_error`` for a 5xx)."""
    return _GENERIC.get(status) or _GENERIC[400 if status < 500 else 500]


def generic_error_body(status: int) -> bytes:
    """The JSON error body (UTF-8, one line) of ``generic_error(status)``, for an answer a
    server writes itself, outside the app (``cashman.gunicorn_worker``, the development
    server's ``cashman.dev_request_handler``): it quotes nothing of the request."""
    code, description = generic_error(status)
    return json.dumps({"code": code, "description": description}).encode() + b"\n"


def _generic(error: HTTPException) -> tuple[str, str]:
    name = (error.name or "error").lower().replace(" ", "_").replace("'", "")
    return name, f"{error.name}."


def register_error_handlers(app: Flask) -> None:
    """Install the handlers of database outages and of everything else (bugs).

    HTTP errors reach ``handle_http_exception`` through the flask-smorest ``Api``
    (``openapi.CashmanApi``), which registers it for ``HTTPException``.
    """
    for outage in DATABASE_OUTAGES:
        app.register_error_handler(outage, handle_database_outage)
    app.register_error_handler(sa_exc.InternalError, handle_internal_database_error)
    app.register_error_handler(Exception, handle_unexpected)
