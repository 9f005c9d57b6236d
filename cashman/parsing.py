"""The request-body guards of SPEC §4, run inside argument parsing (so after authentication).

Order of refusals for a body: not JSON by its Content-Type, or with a content
coding (415), larger
than 64 KiB even when chunked (413, raised by werkzeug while reading),
not UTF-8 or not JSON (400), then not an object or refused by the schema (422).
A body the server cannot deliver (a broken chunked encoding, a client gone
mid-body) is a 400 too, with a warning line and no traceback: it is the
client's fault, not a bug.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

import marshmallow as ma
from flask import Request, current_app
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import (
    ClientDisconnected,
    HTTPException,
    LengthRequired,
    RequestEntityTooLarge,
)

from cashman.errors import (
    ContentCodingError,
    DuplicateMemberNamesError,
    InvalidJSONError,
    JSONTooDeepError,
    NotJSONError,
    RequestValidationError,
    UnreadableBodyError,
)
from cashman.jsonio import DuplicateMemberError, loads_body

MAX_BODY_BYTES = 64 * 1024
_READ_SIZE = 16 * 1024
_JSON_MIMETYPE = re.compile(r"application/(?:[a-z0-9.!#$&^_-]+\+)?json\Z")
_UTF8 = {"utf-8", "utf8", "us-ascii"}
NOT_AN_OBJECT = "The request body must be a JSON object."


class BodyParser(FlaskParser):
    """webargs parser with this API's body rules and error shape."""

    def load_json(self, req: Request, schema: ma.Schema) -> Any:
        """The body as a JSON object; 415, 411, 413 or 400 (module docstring) otherwise."""
        if not is_json(req):
            raise NotJSONError()
        if has_content_coding(req):
            raise ContentCodingError()
        if is_unterminated_chunked(req):
            # werkzeug would read such a body as empty: refuse rather than misread
            raise LengthRequired()
        raw = read_body(req)
        try:
            data = loads_body(raw.decode("utf-8"))
        except DuplicateMemberError:
            raise DuplicateMemberNamesError() from None
        except RecursionError:
            # well-formed, perhaps, but nested past the parser's stack: say so, not "invalid"
            raise JSONTooDeepError() from None
        except ValueError:
            # bad UTF-8 and bad JSON
            raise InvalidJSONError() from None
        if not isinstance(data, dict):
            # well-formed JSON of the wrong type: a 422 like any other, not "malformed"
            raise RequestValidationError({"_schema": [NOT_AN_OBJECT]})
        return data

    def handle_error(
        self, error: ma.ValidationError, req: Request, schema: ma.Schema, **kwargs: Any
    ) -> NoReturn:
        """A schema's refusal as the 422 of the one error shape, errors per field."""
        raise RequestValidationError(flatten_messages(error.messages))


def read_body(req: Request) -> bytes:
    """The whole body; 413 past 64 KiB, 400 when the server cannot deliver it."""
    try:
        return _read_input(req)
    except ClientDisconnected:
        _warn_unreadable("ClientDisconnected")
        raise UnreadableBodyError() from None
    except HTTPException:
        raise
    # the WSGI server's input raises its own classes (gunicorn: InvalidChunkSize,
    # ChunkMissingTerminator, NoMoreData...), which the app cannot name without
    # importing the server; whatever the read raised, the body is not there
    except Exception as exc:
        _warn_unreadable(type(exc).__name__)
        raise UnreadableBodyError() from None


def _warn_unreadable(reason: str) -> None:
    # the class name only: the exception text may quote the body's bytes
    current_app.logger.warning("request body unreadable: %s", reason)


def _read_input(req: Request) -> bytes:
    """The whole body, or 413 past 64 KiB, whether it has a Content-Length or not."""
    if req.content_length is not None or "wsgi.input_terminated" not in req.environ:
        # werkzeug: 413 when Content-Length is too large; no length and a server that
        # does not terminate the input means no body (reading on could block)
        return req.get_data(cache=True)
    # unknown length (chunked): werkzeug's limited stream returns the first 64 KiB as if
    # they were all, so read one byte past the limit to tell "exactly" from "more"
    stream = req.environ["wsgi.input"]
    body = bytearray()
    while len(body) <= MAX_BODY_BYTES:
        chunk = stream.read(min(_READ_SIZE, MAX_BODY_BYTES + 1 - len(body)))
        if not chunk:
            return bytes(body)
        body += chunk
    raise RequestEntityTooLarge()


def is_unterminated_chunked(req: Request) -> bool:
    """A chunked body from a server that does not de-chunk it (no ``wsgi.input_terminated``)."""
    chunked = "chunked" in req.headers.get("Transfer-Encoding", "").lower()
    return chunked and "wsgi.input_terminated" not in req.environ


def is_json(req: Request) -> bool:
    """``application/json`` or ``application/*+json``, UTF-8 if a charset is given."""
    if not _JSON_MIMETYPE.match(req.mimetype):
        return False
    charset = req.mimetype_params.get("charset")
    return charset is None or charset.lower() in _UTF8


def has_content_coding(req: Request) -> bool:
    """A ``Content-Encoding`` naming a coding (RFC 9110 §8.4); ``identity``, which §8.4.1
    reserves for "no coding", and an empty value are none."""
    codings = (req.content_encoding or "").split(",")
    return any(coding.strip().lower() not in ("", "identity") for coding in codings)


def flatten_messages(messages: Any) -> dict[str, list[str]]:
    """webargs nests errors by location (``{"json": {...}}``); clients want fields."""
    if not isinstance(messages, dict):
        return {"_schema": _as_list(messages)}
    flat: dict[str, list[str]] = {}
    for location, fields in messages.items():
        if location in {"json", "query", "headers", "view_args"} and isinstance(fields, dict):
            for field, problems in fields.items():
                flat.setdefault(str(field), []).extend(_as_list(problems))
        else:
            flat.setdefault(str(location), []).extend(_as_list(messages[location]))
    return flat


def _as_list(problems: Any) -> list[str]:
    if isinstance(problems, dict):
        return [f"{key}: {value}" for key, value in problems.items()]
    if isinstance(problems, list | tuple):
        return [str(p) for p in problems]
    return [str(problems)]
