"""``BodyBuffer``: the body is received before the app answers, under one deadline.

A tiny WSGI app stands in for Cashman and records what it could read; the
streams stand in for the servers' ``wsgi.input`` (a socket pair for
gunicorn's, whose deadline shuts the socket's read side).
"""

from __future__ import annotations

import io
import socket
import struct
import threading
import time

import pytest
from werkzeug.exceptions import ClientDisconnected, RequestTimeout

from cashman import body_buffer, body_deadline
from cashman.body_buffer import DRAIN_LIMIT_BYTES, BodyBuffer, set_connection_closer
from cashman.parsing import MAX_BODY_BYTES


class Recorder:
    """A WSGI app that reads its whole body (or not) and answers 200."""

    def __init__(self, read: bool = True) -> None:
        self.read = read
        self.body: bytes | None = None
        self.failure: Exception | None = None

    def __call__(self, environ, start_response):
        if self.read:
            try:
                self.body = environ["wsgi.input"].read()
            except Exception as exc:
                self.failure = exc
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


class CountingStream(io.BytesIO):
    """A ``wsgi.input`` that counts the bytes handed out."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.handed_out = 0

    def read(self, size=-1):
        data = super().read(size)
        self.handed_out += len(data)
        return data


class StalledStream:
    """A client that sent ``first`` bytes and stopped: like the servers' ``read(n)``, a
    read blocks until it has ``n`` bytes or the body ends (here: until released)."""

    def __init__(self, first: bytes = b"") -> None:
        self.first = first
        self.release = threading.Event()

    def read(self, size=-1):
        self.release.wait(30)
        data, self.first = self.first, b""
        return data


def start(app, environ, app_slots=None):
    """Run the middleware up to the answer's first bytes: status, headers, the rest."""
    started = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=headers)

    rest = iter(BodyBuffer(app, app_slots)(environ, start_response))
    assert next(rest) == b"ok"
    return started["status"], dict(started["headers"]), rest


def call(app, environ):
    """Run the middleware to the end; the status and headers it answered with."""
    status, headers, rest = start(app, environ)
    assert list(rest) == []
    return status, headers


def ends_only_after(rest, release: threading.Event) -> bool:
    """Whether iterating ``rest`` to its end waits until ``release`` is set, then ends."""
    finished = threading.Event()
    consumer = threading.Thread(target=lambda: (list(rest), finished.set()), daemon=True)
    consumer.start()
    waited = not finished.wait(0.3)
    release.set()
    return waited and finished.wait(5)


def environ_for(stream, length=None, chunked=False):
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/incomes", "wsgi.input": stream}
    if length is not None:
        environ["CONTENT_LENGTH"] = str(length)
    if chunked:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    return environ


@pytest.fixture
def short_deadline(monkeypatch):
    monkeypatch.setattr(body_buffer, "BODY_READ_TIMEOUT_S", 0.5)


@pytest.fixture(autouse=True)
def no_closer():
    set_connection_closer(None)
    yield
    set_connection_closer(None)


def test_request_without_body_goes_straight_to_the_app():
    stream = CountingStream(b"")
    app = Recorder(read=False)
    environ = environ_for(stream)
    assert call(app, environ) == ("200 OK", {"Content-Type": "text/plain"})
    assert environ["wsgi.input"] is stream


def test_body_is_received_whole_and_handed_to_the_app():
    data = b'{"amount": 1}'
    app = Recorder()
    _, headers = call(app, environ_for(CountingStream(data), len(data)))
    assert (app.body, "Connection" in headers) == (data, False)


def test_app_that_ignores_the_body_still_leaves_it_read():
    data = b"x" * 5000
    stream = CountingStream(data)
    _, headers = call(Recorder(read=False), environ_for(stream, len(data)))
    assert (stream.handed_out, "Connection" in headers) == (len(data), False)


def test_body_over_the_limit_is_drained_and_not_given_to_the_app():
    data = b"x" * (MAX_BODY_BYTES + 5000)
    stream = CountingStream(data)
    app = Recorder()
    _, headers = call(app, environ_for(stream, len(data)))
    assert (stream.handed_out, app.body, "Connection" in headers) == (len(data), b"", False)


def test_body_past_the_drain_limit_is_not_read_and_the_connection_closes():
    length = DRAIN_LIMIT_BYTES + 1
    stream = CountingStream(b"x" * 100)
    _, headers = call(Recorder(read=False), environ_for(stream, length))
    assert (stream.handed_out, headers["Connection"]) == (0, "close")


def test_a_registered_closer_replaces_the_header():
    closed = []
    set_connection_closer(lambda: closed.append(True))
    _, headers = call(Recorder(read=False), environ_for(CountingStream(b""), DRAIN_LIMIT_BYTES + 1))
    assert (closed, "Connection" in headers) == ([True], False)


def test_chunked_body_within_the_limit_is_whole():
    data = b"y" * MAX_BODY_BYTES
    app = Recorder()
    _, headers = call(app, environ_for(CountingStream(data), chunked=True))
    assert (app.body, "Connection" in headers) == (data, False)


def test_chunked_body_over_the_limit_gives_the_app_one_byte_too_many_and_is_drained():
    data = b"z" * (MAX_BODY_BYTES * 3)
    stream = CountingStream(data)
    app = Recorder()
    _, headers = call(app, environ_for(stream, chunked=True))
    assert len(app.body) == MAX_BODY_BYTES + 1
    assert (stream.handed_out, "Connection" in headers) == (len(data), False)


def test_chunked_body_past_the_drain_limit_closes():
    stream = CountingStream(b"z" * (DRAIN_LIMIT_BYTES + 10))
    app = Recorder()
    _, headers = call(app, environ_for(stream, chunked=True))
    assert (len(app.body), headers["Connection"]) == (MAX_BODY_BYTES + 1, "close")


def test_client_gone_mid_body_is_a_disconnect_and_closes():
    app = Recorder()
    _, headers = call(app, environ_for(CountingStream(b"abc"), 10))
    assert isinstance(app.failure, ClientDisconnected)
    assert headers["Connection"] == "close"


def test_stalled_body_is_answered_at_the_deadline_and_held_open_until_the_read_ends(
    short_deadline,
):
    stream = StalledStream(b"12345")
    app = Recorder()
    started = time.monotonic()
    try:
        _, headers, rest = start(app, environ_for(stream, 100))
        answered_after = time.monotonic() - started
        # granian must not end a request while a read of its body is in flight
        assert ends_only_after(rest, stream.release)
    finally:
        stream.release.set()
    assert answered_after < 5
    assert isinstance(app.failure, RequestTimeout)
    assert headers["Connection"] == "close"


def test_app_that_answers_first_is_not_made_to_fail_by_a_stalled_body(short_deadline):
    stream = StalledStream()
    try:
        status, headers, rest = start(Recorder(read=False), environ_for(stream, 100))
        assert ends_only_after(rest, stream.release)
    finally:
        stream.release.set()
    assert (status, headers["Connection"]) == ("200 OK", "close")


def test_app_slots_bound_the_requests_in_the_app_not_those_receiving_a_body(short_deadline):
    """A request stalled in its body holds no app slot: with one slot, the next still runs."""
    stalled = StalledStream()
    buffer = BodyBuffer(Recorder(), app_slots=1)
    answers = []
    waiting = threading.Thread(
        target=lambda: answers.append(list(buffer(environ_for(stalled, 100), lambda *a: None))),
        daemon=True,
    )
    try:
        waiting.start()
        time.sleep(0.1)  # the stalled request is receiving its body
        quick = list(buffer(environ_for(CountingStream(b"{}"), 2), lambda *a: None))
    finally:
        stalled.release.set()
        waiting.join(5)
    assert quick == [b"ok"]
    assert answers == [[b"ok"]]


class SocketStream:
    """gunicorn's ``wsgi.input`` reduced to what matters: ``read`` loops on ``recv``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def read(self, size):
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        return data


def test_gunicorn_socket_deadline_ends_a_trickling_body(short_deadline):
    server_side, client_side = socket.socketpair()
    stop = threading.Event()

    def trickle():
        # one byte every 0.1 s: no single recv stalls, only the deadline can end it
        while not stop.wait(0.1):
            try:
                client_side.send(b"x")
            except OSError:
                return

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    environ = environ_for(SocketStream(server_side), 10_000)
    environ["gunicorn.socket"] = server_side
    app = Recorder()
    started = time.monotonic()
    try:
        _, headers = call(app, environ)
    finally:
        stop.set()
        sender.join(5)
        server_side.close()
        client_side.close()
    assert time.monotonic() - started < 5
    assert isinstance(app.failure, RequestTimeout)
    assert headers["Connection"] == "close"


def test_gunicorn_socket_stall_timeout_is_a_timeout():
    server_side, client_side = socket.socketpair()
    # what gunicorn.conf.py gives every accepted socket: a blocking recv fails with EAGAIN
    server_side.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 200_000))
    environ = environ_for(SocketStream(server_side), 10)
    environ["gunicorn.socket"] = server_side
    app = Recorder()
    try:
        _, headers = call(app, environ)
    finally:
        server_side.close()
        client_side.close()
    assert isinstance(app.failure, RequestTimeout)
    assert headers["Connection"] == "close"


def test_reader_pool_exhausted_by_parked_reads_still_answers(monkeypatch, short_deadline):
    monkeypatch.setattr(body_deadline, "READER_THREADS", 1)
    monkeypatch.setattr(body_deadline, "_pool", None)
    parked = StalledStream()
    waiting = StalledStream()
    try:
        _, _, held_open = start(Recorder(), environ_for(parked, 100))
        app = Recorder()
        # the one reader thread is parked: this read never starts, so nothing is held open
        _, headers, rest = start(app, environ_for(waiting, 100))
        assert list(rest) == []
        assert ends_only_after(held_open, parked.release)
    finally:
        parked.release.set()
        waiting.release.set()
    assert isinstance(app.failure, RequestTimeout)
    assert headers["Connection"] == "close"
