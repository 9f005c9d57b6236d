"""One structured JSON line per request, with a request id echoed in ``X-Request-ID`` (SPEC §6).

Operators correlate a client's report with the server's line through the
request id: a sane ``X-Request-ID`` from a proxy is kept, anything else is
replaced by a fresh one. The line names the caller's ``sub`` when a token was
verified, and the path without its query string and with token-like segments
redacted (``cashman.redaction``). The ``Authorization`` header is never read here.

The request line is written straight to ``sys.stderr`` as it is at that moment, in one
``write``: going through ``logging`` (a record, the caller's frame, handler locks) cost
about a fifth of a ``/ping``. Start-up and worker lines still go through the
``cashman`` logger.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from typing import Any

from flask import Request, Response

from cashman.body_buffer import RECEIVING_SINCE
from cashman.log_lines import JSONLines
from cashman.redaction import holds_jws, loggable_method, loggable_path

startup_logger = logging.getLogger("cashman")
AUTH_LOGGER = "auth"
# one line at a time on the shared stream, whichever thread writes it
_write_lock = threading.Lock()

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"
# the version (4) and variant (10) bits of a uuid4, as ``uuid.UUID(version=4)`` sets them
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (4 << 76) | (0x8000 << 48)
# JSON string literal of a str, non-ASCII kept (json.dumps(..., ensure_ascii=False)), in C
_quote = json.encoder.encode_basestring
# 1-128 characters that cannot break a log line, a header or a shell
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (test capture, gunicorn's redirect)."""

    def __init__(self) -> None:
        """A handler with no stream of its own (see ``stream``)."""
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        """``sys.stderr`` as it is now."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """``StreamHandler.__init__`` assigns a stream; the live ``sys.stderr`` is used instead."""


def request_id_from(value: str | None) -> str:
    """The incoming id if it is sane, else a fresh uuid4 hex.

    Sane: 1-128 of ``[A-Za-z0-9._:-]``, and nothing shaped like a compact JWS nor the
    base64url head of a JOSE header or claims set (``eyJ...``), so no token or DPoP proof,
    whole or its first 128 characters, reaches the log as a request id (the length alone
    keeps out every whole RS256 token and ES256 proof, not a short unsigned one or a
    token's head). Another long base64url run is kept: trace ids look like that."""
    if value and _SANE_REQUEST_ID.fullmatch(value) and not holds_jws(value):
        return value
    return uuid4_hex()


def uuid4_hex() -> str:
    """``uuid.uuid4().hex`` (RFC 9562 §5.4: 122 random bits, version 4, variant 10) without
    building a ``UUID`` object, which took most of the request id's time."""
    bits = int.from_bytes(os.urandom(16), "big") & _UUID4_CLEAR | _UUID4_SET
    return f"{bits:032x}"


def caller_sub(state: Any) -> str | None:
    """The verified caller's ``sub`` (``state``: the request's ``g``), if the request
    carried a valid token."""
    user = state.get("current_user")
    sub = user.get("sub") if isinstance(user, dict) else getattr(user, "sub", None)
    return sub if isinstance(sub, str) else None


def start_request(req: Request, state: Any) -> None:
    """Give the request its id and start its clock (``state``: the request's ``g``): when
    a production worker began to receive its body (``BodyBuffer``), else now."""
    state.request_id = request_id_from(req.environ.get(_REQUEST_ID_ENVIRON))
    state.request_started = req.environ.get(RECEIVING_SINCE) or time.perf_counter()


def log_request(req: Request, state: Any, response: Response) -> Response:
    """Echo the request id on ``response`` and write the request's line (``state``: ``g``)."""
    # a hook that ran before ours may have failed: never lose the id or the line
    request_id = state.get("request_id") or request_id_from(req.environ.get(_REQUEST_ID_ENVIRON))
    started = state.get("request_started") or time.perf_counter()
    response.headers[REQUEST_ID_HEADER] = request_id
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    write_line(
        request_line(
            request_id,
            # as sent: werkzeug upper-cases request.method, and `get` is not `GET`
            loggable_method(req.environ["REQUEST_METHOD"]),
            loggable_path(req.path),
            response.status_code,
            duration_ms,
            caller_sub(state),
        )
    )
    return response


def request_line(
    request_id: str, method: str, path: str, status: int, duration_ms: float, sub: str | None
) -> str:
    """The request's JSON line, ``sub`` only when there is one: the text ``json.dumps``
    gives for the same fields in this order (``ensure_ascii=False``), written by hand
    because the encoder's set-up took as long as the rest of the line."""
    q = _quote
    line = (
        f'{{"event": "request", "request_id": {q(request_id)}, "method": {q(method)}, '
        f'"path": {q(path)}, "status": {int(status)}, "duration_ms": {float(duration_ms)!r}'
    )
    return f"{line}}}" if sub is None else f'{line}, "sub": {q(sub)}}}'


def write_line(line: str) -> None:
    """``line`` and a newline to ``sys.stderr`` as it is now (test capture, the server's
    redirect), in one write, flushed as a line-buffered stream would be."""
    stream = sys.stderr
    with _write_lock:
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass  # a lost log stream (closed, broken pipe) must not cost the client its answer


def configure_logging() -> None:
    """The ``cashman`` and ``auth`` loggers write one JSON line per record to stderr
    (``cashman.log_lines``: a traceback's tokens redacted), once per process. ``cashman`` logs from
    INFO on; ``auth`` keeps its level (by default the root's WARNING: a refused request's
    INFO line would repeat its request line)."""
    for name in (startup_logger.name, AUTH_LOGGER):
        target = logging.getLogger(name)
        if not any(isinstance(h, StderrHandler) for h in target.handlers):
            handler = StderrHandler()
            handler.setFormatter(JSONLines())
            target.addHandler(handler)
    if startup_logger.level == logging.NOTSET:
        startup_logger.setLevel(logging.INFO)


def log_startup(issuers: tuple[str, ...] | list[str], audience: str) -> None:
    """One line at start-up: which issuers and audience this process trusts."""
    configure_logging()
    fields = {"event": "startup", "issuers": list(issuers), "audience": audience}
    startup_logger.info(json.dumps(fields, ensure_ascii=False))
