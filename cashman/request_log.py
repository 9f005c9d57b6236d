"""One structured JSON line per request, with a request id echoed in ``X-Request-ID`` (SPEC §6).

Operators correlate a client's report with the server's line through the
request id: a sane ``X-Request-ID`` from a proxy is kept, anything else is
replaced by a fresh one. The line names the caller's ``sub`` when a token was
verified, and the path without its query string and with token-like segments
redacted (``cashman.redaction``). The ``Authorization`` header is never read here.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request

from cashman.redaction import loggable_path

logger = logging.getLogger("cashman.request")
startup_logger = logging.getLogger("cashman")

REQUEST_ID_HEADER = "X-Request-ID"
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
    """The incoming id if it is sane, else a fresh uuid4 hex."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def caller_sub() -> str | None:
    """The verified caller's ``sub``, if the request carried a valid token."""
    user = g.get("current_user")
    sub = user.get("sub") if isinstance(user, dict) else getattr(user, "sub", None)
    return sub if isinstance(sub, str) else None


def _start_request() -> None:
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    # a hook that ran before ours may have failed: never lose the id or the line
    request_id = g.get("request_id") or request_id_from(request.headers.get(REQUEST_ID_HEADER))
    started = g.get("request_started", time.perf_counter())
    response.headers[REQUEST_ID_HEADER] = request_id
    fields: dict[str, Any] = {
        "event": "request",
        "request_id": request_id,
        "method": request.method,
        "path": loggable_path(request.path),
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    sub = caller_sub()
    if sub is not None:
        fields["sub"] = sub
    logger.info(json.dumps(fields, ensure_ascii=False))
    return response


def configure_logging() -> None:
    """Our loggers write plain lines (the JSON is the message) to stderr, once per process."""
    parent = startup_logger
    if not any(isinstance(h, StderrHandler) for h in parent.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        parent.addHandler(handler)
    if parent.level == logging.NOTSET:
        parent.setLevel(logging.INFO)


def log_startup(issuers: tuple[str, ...] | list[str], audience: str) -> None:
    """One line at start-up: which issuers and audience this process trusts."""
    configure_logging()
    fields = {"event": "startup", "issuers": list(issuers), "audience": audience}
    startup_logger.info(json.dumps(fields, ensure_ascii=False))


def init_app(app: Flask) -> None:
    """Install the request-id and request-log hooks on ``app``."""
    configure_logging()
    # first before-request hook: the clock and the id exist before anything can fail
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_log_request)
