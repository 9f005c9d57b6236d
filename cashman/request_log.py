"""One structured JSON line per request, with a request id echoed in ``X-Request-ID``.

Operators correlate a client's report with the server's line through the
request id: a sane ``X-Request-ID`` from a proxy is kept, anything else is
replaced by a fresh one. The line names the caller's ``sub`` when a token was
verified, and the path WITHOUT its query string: a token may only travel in
the ``Authorization`` header, but a client that puts one in
``?access_token=`` must not get it written to disk. For the same reason a
path segment that looks like a token (a JWS/JWT: base64url parts joined by
dots, or any long base64url run) is logged as ``[redacted]``, and the logged
path is capped. The header itself is never read here.

Lines this module does not write can quote a URL too: gunicorn's own warning
for a malformed request line repeats the line. ``RedactTokens`` is a logging
filter for such loggers (``gunicorn.conf.py`` installs it on gunicorn's): it
formats each record and redacts ``access_token=`` values and token-like runs.
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

logger = logging.getLogger("cashman.request")
startup_logger = logging.getLogger("cashman")

REQUEST_ID_HEADER = "X-Request-ID"
# 1-128 characters that cannot break a log line, a header or a shell
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# a compact JWS/JWE (a JOSE header is >= 10 base64url characters, then dot-joined parts)
# or a long base64url run: either may be a token sent in the URL by mistake
_TOKENISH = re.compile(r"[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*\.|[A-Za-z0-9_.=-]{40,}")
REDACTED = "[redacted]"
# in free text: a whole compact JWS/JWE (every part), or the same long base64url run
_TOKEN_IN_TEXT = re.compile(
    r"[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*|[A-Za-z0-9_.=-]{40,}"
)
# the value of an access_token parameter, up to the next parameter, space or quote
_ACCESS_TOKEN_PARAM = re.compile(r"(access_token=)[^&\s'\"]*", re.IGNORECASE)
MAX_LOGGED_PATH = 512


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (test capture, gunicorn's redirect)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """``StreamHandler.__init__`` assigns a stream; the live ``sys.stderr`` is used instead."""


def request_id_from(value: str | None) -> str:
    """The incoming id if it is sane, else a fresh uuid4 hex."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def loggable_path(path: str) -> str:
    """``path`` with every token-like segment redacted, at most ``MAX_LOGGED_PATH`` long."""
    segments = path.split("/")
    safe = "/".join(REDACTED if _TOKENISH.search(s) else s for s in segments)
    if len(safe) > MAX_LOGGED_PATH:
        safe = safe[:MAX_LOGGED_PATH] + "..."
    return safe


def redact_text(text: str) -> str:
    """``text`` with every ``access_token=`` value and token-like run replaced."""
    text = _ACCESS_TOKEN_PARAM.sub(rf"\g<1>{REDACTED}", text)
    return _TOKEN_IN_TEXT.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    """Redacts tokens from any record, its arguments and traceback included; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        # the arguments hold the request line: format first, then redact the result
        record.msg, record.args = redact_text(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            # formatters reuse exc_text: the traceback is redacted once, here
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def install_redaction(logger_name: str) -> None:
    """Put ``RedactTokens`` on the named logger and each of its handlers, once."""
    target = logging.getLogger(logger_name)
    for holder in (target, *target.handlers):
        if not any(isinstance(f, RedactTokens) for f in holder.filters):
            holder.addFilter(RedactTokens())


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
