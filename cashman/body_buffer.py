"""Receive the whole request body before the app answers: no answer leaves a half-read connection.

Several answers come before the app reads the body: 401 and 403 by design
(SPEC §3), 415, 413 for a ``Content-Length`` over 64 KiB, a 400 for a bad
``Authorization`` header. Left unread, the rest of that body sits on the
connection: gunicorn then announced ``Connection: keep-alive``, gave up
draining it and closed, and a client that sent its next request on the
connection saw it fail (on granian the same race exists for larger bodies).

This WSGI middleware, installed by both production entries, settles the
connection before the app runs, under one deadline for the whole body
(``cashman.body_deadline``):

- a body the server can read to its end within ``DRAIN_LIMIT_BYTES`` is read
  (the app gets its first 64 KiB + 1 bytes, enough to refuse it as too
  large): the connection stays usable whatever the app answers, so a client
  whose token expired keeps its connection (RFC 9112 §9.3);
- a body that cannot be (larger than the limit, stalled past the deadline,
  broken framing, client gone) gets the app's answer with ``Connection:
  close``, and the server closes the connection after it (RFC 9112 §9.6).
  The client is told, so it never sends another request on it.

Reading a body before authentication looks at nothing in it: the app still
answers 401/403 before 415, 413 or 422. Draining is bounded in bytes and
time, so it costs a client that was refused no more than a valid request.

On granian a read still blocked at the deadline cannot be cancelled, and the
request must not end before it does (``cashman.body_deadline``): the answer
goes out at the deadline, then the request is held open until the read ends
(the client sends, or leaves, as ``Connection: close`` asks it to). So that
such requests never take the app's own threads, ``app_slots`` bounds how
many requests run the app at once, counted only once their body is in.
``/ping`` takes no slot: liveness does not wait behind requests that wait for the
database or the issuers (SPEC §6), as long as the worker has a granian thread free
(``--threads`` + ``cashman.serve.PARKED_REQUESTS``: past that many requests held at
once, a new one, ``/ping`` included, waits for a thread).
"""

from __future__ import annotations

import io
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestTimeout

from cashman.body_deadline import (
    BODY_READ_TIMEOUT_S,
    BodyBroken,
    BodyTimeout,
    DeadlineReader,
    reader_for,
)
from cashman.parsing import MAX_BODY_BYTES

# environ key: time.perf_counter() when the body began to be received (cashman.request_log)
RECEIVING_SINCE = "cashman.receiving_since"
# bodies up to this size are read and dropped to keep their connection; past it, close
DRAIN_LIMIT_BYTES = 1024 * 1024
_DRAIN_STEP = 64 * 1024
_CHUNKED = -1
# a Content-Length the server passed on but that is not a number: where the body ends is unknown
_UNFRAMED = -2

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_closers = threading.local()
# answered without an app slot (see the module docstring)
LIVENESS_PATHS = frozenset({"/ping"})


def set_connection_closer(closer: Callable[[], None] | None) -> None:
    """How the server serving this thread's request closes its connection after the answer.

    For servers that drop a ``Connection`` header set by the app (gunicorn:
    ``gunicorn.conf.py`` registers one in ``pre_request`` and clears it in
    ``post_request``). Without one, the answer carries ``Connection: close``,
    which granian honours.
    """
    _closers.closer = closer


@dataclass(frozen=True)
class Received:
    """What reading the body gave: the bytes for the app, whether it ended cleanly, and
    (granian) a wait for a read still in flight, which the request must outlive."""

    data: bytes
    is_complete: bool
    failure: HTTPException | None = None
    parked: Callable[[], None] | None = None


class ReceivedBody:
    """``wsgi.input`` for the app: the bytes received, then why there are no more (if so)."""

    def __init__(self, received: Received) -> None:
        self._buffer = io.BytesIO(received.data)
        self._failure = received.failure

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all if negative); past the bytes received, the failure."""
        data = self._buffer.read(-1 if size is None else size)
        wants_all = size is None or size < 0
        if self._failure is not None and (wants_all or (size and not data)):
            raise self._failure
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """One line, as ``io.BytesIO`` reads it; past the bytes received, the failure."""
        line = self._buffer.readline(-1 if size is None else size)
        if self._failure is not None and not line and size != 0:
            raise self._failure
        return line

    def readlines(self, hint: int = -1) -> list[bytes]:
        """Every remaining line."""
        return list(self)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class BodyBuffer:
    """WSGI middleware: ``app.wsgi_app = BodyBuffer(app.wsgi_app, app_slots=threads)``.

    ``app_slots``: at most that many requests run the app at once (None: no
    bound, the server's threads are the bound).
    """

    def __init__(self, app: WSGIApp, app_slots: int | None = None) -> None:
        self.app = app
        # one token per slot in a C queue: taking and giving back one is two C calls,
        # where a (Bounded)Semaphore runs a Condition in Python on every request
        self._slots: queue.SimpleQueue[None] | None = None
        if app_slots:
            self._slots = queue.SimpleQueue()
            for _ in range(app_slots):
                self._slots.put(None)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Receive the body (if any), then let the app answer; close if the body did not end."""
        length = body_length(environ)
        if length == 0:
            return self._answer(environ, start_response)
        # the request's clock starts here, before its body arrives (its log line's duration)
        environ[RECEIVING_SINCE] = time.perf_counter()
        received = receive(environ, length)
        environ["wsgi.input"] = ReceivedBody(received)
        if not received.is_complete:
            start_response = _closing_connection(start_response)
        answer = self._answer(environ, start_response)
        if received.parked is not None:
            return _held_open(answer, received.parked)
        return answer

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        slots = self._slots
        # liveness does not queue behind requests held by the database or the issuers
        # (SPEC §6: /ping never depends on them): it takes no app slot, only a thread
        if slots is None or environ.get("PATH_INFO") in LIVENESS_PATHS:
            return self.app(environ, start_response)
        slots.get()
        try:
            return self.app(environ, start_response)
        finally:
            slots.put(None)


def _closing_connection(start_response: Callable[..., Any]) -> Callable[..., Any]:
    """``start_response`` for an answer after which the connection closes."""
    closer = getattr(_closers, "closer", None)
    if closer is not None:
        closer()
        return start_response

    def start_closing(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("Connection", "close")], exc_info)

    return start_closing


def _held_open(answer: Iterable[bytes], wait_parked: Callable[[], None]) -> Iterator[bytes]:
    """The answer's bytes, then (its close and) the wait for the parked read."""
    try:
        yield from answer
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()
        wait_parked()


def body_length(environ: dict[str, Any]) -> int:
    """``Content-Length`` as an int, ``_CHUNKED`` for a chunked body, 0 for none."""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return int(length) if length.isascii() and length.isdigit() else _UNFRAMED
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return _CHUNKED
    return 0


def receive(environ: dict[str, Any], length: int) -> Received:
    """Read the body of ``length`` bytes (``_CHUNKED``: to its end) within the deadline."""
    if length > DRAIN_LIMIT_BYTES or length == _UNFRAMED:
        # too large to drain: nothing is read, and the connection closes after the answer
        return Received(b"", is_complete=False)
    reader = reader_for(environ, time.monotonic() + BODY_READ_TIMEOUT_S)
    try:
        received = _read(reader, length)
    finally:
        reader.close()
    parked = reader.parked()
    return received if parked is None else replace(received, parked=parked)


def _read(reader: DeadlineReader, length: int) -> Received:
    try:
        if length == _CHUNKED:
            return _receive_to_end(reader)
        data = reader.read(length)
        if len(data) < length:
            return Received(data, is_complete=False, failure=ClientDisconnected())
        # over 64 KiB the app refuses it by its Content-Length and reads none of it
        return Received(data if length <= MAX_BODY_BYTES else b"", is_complete=True)
    except BodyTimeout:
        return Received(b"", is_complete=False, failure=RequestTimeout())
    except BodyBroken:
        return Received(b"", is_complete=False, failure=ClientDisconnected())


def _receive_to_end(reader: DeadlineReader) -> Received:
    """A body of unknown length: keep 64 KiB + 1 bytes (enough for a 413), drain the rest."""
    data = reader.read(MAX_BODY_BYTES + 1)
    total = len(data)
    if total <= MAX_BODY_BYTES:
        return Received(data, is_complete=True)
    try:
        while total < DRAIN_LIMIT_BYTES:
            chunk = reader.read(min(_DRAIN_STEP, DRAIN_LIMIT_BYTES - total))
            if not chunk:
                return Received(data, is_complete=True)
            total += len(chunk)
    except (BodyTimeout, BodyBroken):
        pass  # too large already: the app's 413 stands, and the connection closes
    return Received(data, is_complete=False)
