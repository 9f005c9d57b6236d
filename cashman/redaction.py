"""Tokens never reach a log (SPEC §3, §6): redaction of paths and of free text.

A token may only travel in the ``Authorization`` header, which nothing logs; but
a client may put one in the URL by mistake (``?access_token=``, or a path
segment), and a server's own warning may quote the request line. So a logged
path loses its query string and every segment that looks like a token (a JWS/JWT:
base64url parts joined by dots, or any long base64url run) and is capped in
length; and ``RedactTokens``, a logging filter for loggers whose lines quote a
URL (``gunicorn.conf.py`` puts it on gunicorn's), formats each record and
redacts ``access_token=`` values and token-like runs, dotted Python names excepted
(gunicorn names its worker class, a traceback its modules).
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
MAX_LOGGED_PATH = 512
MAX_LOGGED_METHOD = 32
# RFC 9110 §9.3 and RFC 5789 (PATCH): logged as they are
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
# a compact JWS/JWE (a JOSE header is >= 10 base64url characters, then dot-joined parts)
# or a long base64url run: either may be a token sent in the URL by mistake
_JWS_SHAPED = r"[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*\."
_TOKENISH = re.compile(_JWS_SHAPED + r"|[A-Za-z0-9_.=-]{40,}")
# "eyJ" is base64url of '{"': the head of a JOSE header or claims set, which every token
# and proof starts with, so a token's first characters alone are refused too
_HOLDS_JWS = re.compile(_JWS_SHAPED + r"|eyJ[A-Za-z0-9_-]{7,}")
# in free text: a whole compact JWS/JWE (every part), or the same long base64url run
_TOKEN_IN_TEXT = re.compile(
    r"[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*|[A-Za-z0-9_.=-]{40,}"
)
# A dotted Python name (a module, a class, a worker: ``cashman.gunicorn_worker.Name``) is
# kept in free text, unless a part may be the base64url of a JSON object (``ey`` or
# ``ew``: ``{`` then a quote or whitespace, how every JOSE header, so every JWS and JWE,
# starts) or is longer than names are (a signature is 86 characters at least).
_NAME_PART = r"(?!e[wy])[A-Za-z_][A-Za-z0-9_]{0,63}"
_DOTTED_NAME = re.compile(rf"{_NAME_PART}(?:\.{_NAME_PART})+")
# the value of an access_token parameter, up to the next parameter, space or quote
_ACCESS_TOKEN_PARAM = re.compile(r"(access_token=)[^&\s'\"]*", re.IGNORECASE)


def loggable_path(path: str) -> str:
    """``path`` with every token-like segment and ``access_token=`` value redacted (a
    ``%3F`` in the URL decodes to a ``?`` inside the path, where an opaque token short
    of the token-like rules would stay), at most ``MAX_LOGGED_PATH`` long."""
    path = _ACCESS_TOKEN_PARAM.sub(rf"\g<1>{REDACTED}", path)
    segments = path.split("/")
    safe = "/".join(REDACTED if _TOKENISH.search(s) else s for s in segments)
    if len(safe) > MAX_LOGGED_PATH:
        safe = safe[:MAX_LOGGED_PATH] + "..."
    return safe


def loggable_method(method: str) -> str:
    """The request method as logged: redacted if token-like (a server may pass any token
    of RFC 9110 §9.1 on, and ``.``, ``-`` and ``_`` are token characters), capped."""
    if method in _METHODS:  # every request's: no pattern to run
        return method
    if _TOKENISH.search(method):
        return REDACTED
    return method if len(method) <= MAX_LOGGED_METHOD else method[:MAX_LOGGED_METHOD] + "..."


def holds_jws(text: str) -> bool:
    """Whether ``text`` holds something shaped like a compact JWS or JWE (a token, a DPoP
    proof, or the signed part of one), or the base64url of a JSON object's start of at
    least 10 characters (the head of one, cut short)."""
    return _HOLDS_JWS.search(text) is not None


def redact_text(text: str) -> str:
    """``text`` with every ``access_token=`` value and token-like run replaced; a dotted
    Python name in gunicorn's own lines (``Using worker: cashman.gunicorn_worker...``,
    a traceback's) stays, since no token has that shape (module docstring)."""
    text = _ACCESS_TOKEN_PARAM.sub(rf"\g<1>{REDACTED}", text)
    return _TOKEN_IN_TEXT.sub(_redacted_run, text)


def _redacted_run(match: re.Match[str]) -> str:
    """A token-like run of free text replaced, unless it is a dotted Python name."""
    run = match.group()
    return run if _DOTTED_NAME.fullmatch(run) else REDACTED


class RedactTokens(logging.Filter):
    """Redacts tokens from any record, its arguments and traceback included; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always keep it."""
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
