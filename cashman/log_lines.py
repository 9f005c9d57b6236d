"""Every line the app's loggers write is one JSON object, as the request lines are (SPEC §6).

The request line is written by ``cashman.request_log`` itself; start-up and worker
events log a JSON message through the ``cashman`` logger. Everything else the
``cashman`` and ``auth`` loggers say (a database or replay-store failure, a refused
request answered 503, a failed JWKS fetch, a bug's traceback) was plain text in the
same stream: a JSON log pipeline could not parse it nor tie it to a request. This
formatter wraps such a message as ``{"event": "log", "level", "logger", "message"}``
with the request's id when it happens during a request, and a traceback as one
``traceback`` string, tokens redacted; a message that already is one of our JSON lines
passes as is. Messages are not redacted: the code writes them, never a token into them,
and redaction would take the dotted host out of a JWKS URL.

Records still propagate to the root logger, so a test's capture or an embedding app's
own handlers see them too (in their own format); the production entries set no handler
there, so each line is written once.

Written here rather than taken from python-json-logger: the project's dependencies are
fixed, and the whole job is one ``json.dumps`` per line.
"""

from __future__ import annotations

import json
import logging

from flask import g, has_app_context

from cashman.redaction import redact_text

# how every JSON message of ours starts (``json.dumps({"event": ...})``)
_OUR_JSON = '{"event": '


class JSONLines(logging.Formatter):
    """Formats a record as one JSON object on one line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's line: its message if already ours, else the message wrapped."""
        message = record.getMessage()
        if message.startswith(_OUR_JSON) and not record.exc_info and not record.exc_text:
            return message
        fields: dict[str, str] = {
            "event": "log",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        request_id = _request_id()
        if request_id is not None:
            fields["request_id"] = request_id
        traceback = record.exc_text
        if record.exc_info and not traceback:
            traceback = self.formatException(record.exc_info)
        if traceback:
            # a bug's exception may quote what the client sent: tokens go (SPEC §3). The
            # record is left as it is for any other handler (a test's capture).
            fields["traceback"] = redact_text(traceback)
        return json.dumps(fields, ensure_ascii=False)


def _request_id() -> str | None:
    """The id ``cashman.request_log`` gave the current request, if a request is running."""
    if not has_app_context():
        return None
    request_id = g.get("request_id")
    return request_id if isinstance(request_id, str) else None
