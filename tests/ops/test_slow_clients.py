"""Slow or stalled clients cannot tie up the workers (SPEC §6), on both production servers.

Each test holds more stalled connections than the server (one worker of
four threads) has threads, and checks that an ordinary request is still
answered, and that the stalled ones are cut off by the documented timeouts:
a head stall (gunicorn: 5 s without a byte), the whole head within 30 s
(both: read without a Python thread), and the body deadline (10 s for the
whole body, then a JSON 408 with ``Connection: close``). Heads trickled a
byte every 0.5 s, on new or kept-alive connections, hold no thread either.
Loopback only; every socket has a timeout and every test is bounded.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from cashman.body_deadline import BODY_READ_TIMEOUT_S
from cashman.serve import HEAD_READ_TIMEOUT_S
from tests.support import raw_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
STALLED = 6  # more than the one worker's four threads
MARGIN_S = 8
GUNICORN_STALL_S = 5
HEAD_CUT_S = {"gunicorn": GUNICORN_STALL_S, "granian": HEAD_READ_TIMEOUT_S}


def open_stalled(port: int, data: bytes, count: int = STALLED) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = raw_http.connect(port, timeout_s=HEAD_READ_TIMEOUT_S + 2 * MARGIN_S)
        sock.sendall(data)
        socks.append(sock)
    return socks


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def seconds_until_closed(sock: socket.socket) -> float:
    started = time.monotonic()
    raw_http.read_to_close(sock)
    return time.monotonic() - started


def test_stalled_heads_leave_the_server_answering(shared_server):
    socks = open_stalled(shared_server.port, b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    try:
        started = time.monotonic()
        resp = requests.get(f"{shared_server.url}/ping", timeout=GUNICORN_STALL_S + MARGIN_S)
        waited = time.monotonic() - started
    finally:
        close_all(socks)
    assert resp.status_code == 200
    assert waited < GUNICORN_STALL_S + MARGIN_S


def test_stalled_head_is_cut_off(shared_server):
    socks = open_stalled(shared_server.port, b"POST /incomes HTTP/1.1\r\nHost: x\r\n", count=2)
    try:
        waited = [seconds_until_closed(sock) for sock in socks]
    finally:
        close_all(socks)
    assert max(waited) < HEAD_CUT_S[shared_server.server] + MARGIN_S


def test_stalled_bodies_get_a_408_and_leave_the_server_answering(shared_server, write_token):
    head = raw_http.request(
        "POST",
        "/incomes",
        {"Authorization": f"Bearer {write_token}", "Content-Type": "application/json"},
        b"",
    )
    partial = head.replace(b"\r\n\r\n", b"\r\nContent-Length: 100\r\n\r\n") + b'{"descr'
    socks = open_stalled(shared_server.port, partial)
    answers: list[raw_http.Response] = []

    def read_answer(sock: socket.socket) -> None:
        answers.append(raw_http.read_response(sock))

    readers = [threading.Thread(target=read_answer, args=(sock,)) for sock in socks]
    try:
        for reader in readers:
            reader.start()
        during = requests.get(f"{shared_server.url}/ping", timeout=BODY_READ_TIMEOUT_S + MARGIN_S)
        for reader in readers:
            reader.join(BODY_READ_TIMEOUT_S + 2 * MARGIN_S)
        # answered, but the stalled clients keep their connections open: still serving
        after = requests.get(f"{shared_server.url}/ping", timeout=MARGIN_S)
    finally:
        close_all(socks)
    assert (during.status_code, after.status_code) == (200, 200)
    assert [(a.status, a.json()["code"], a.closes) for a in answers] == [
        (408, "request_timeout", True)
    ] * STALLED


def test_trickled_body_is_cut_off_by_the_body_deadline(shared_server, write_token):
    """One byte every 0.3 s: no single read stalls; only a deadline for the whole body ends it."""
    headers = {
        "Authorization": f"Bearer {write_token}",
        "Content-Type": "application/json",
        "Content-Length": "1000",
    }
    stop = threading.Event()
    with raw_http.connect(shared_server.port) as sock:
        sock.sendall(raw_http.request("POST", "/incomes", headers))

        def trickle() -> None:
            while not stop.wait(0.3):
                if not raw_http.send_all(sock, b" "):
                    return

        sender = threading.Thread(target=trickle, daemon=True)
        started = time.monotonic()
        sender.start()
        try:
            answer = raw_http.read_response(sock)
        finally:
            stop.set()
            sender.join(5)
    assert (answer.status, answer.json()["code"], answer.closes) == (408, "request_timeout", True)
    assert time.monotonic() - started < BODY_READ_TIMEOUT_S + MARGIN_S


class Trickle:
    """Send ``data`` one byte every ``every_s`` on each socket, in one thread, until stopped.

    ``under_way`` is set once every socket got a few bytes (the server is then
    reading the heads); ``open_at_stop`` is how many sockets still took bytes
    when ``stop()`` was called.
    """

    ROUNDS_UNDER_WAY = 3

    def __init__(self, socks: list[socket.socket], data: bytes, every_s: float = 0.5) -> None:
        self.data, self.every_s = data, every_s
        self.under_way = threading.Event()
        self.open_at_stop = 0
        self._open = list(socks)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._stop.is_set():
            self.open_at_stop = len(self._open)
            self._stop.set()
            self._thread.join(5)

    def _run(self) -> None:
        for sent in range(len(self.data)):
            byte = self.data[sent : sent + 1]
            self._open = [s for s in self._open if raw_http.send_all(s, byte)]
            if sent + 1 == self.ROUNDS_UNDER_WAY:
                self.under_way.set()
            if self._stop.wait(self.every_s) or not self._open:
                return


# a head that never ends: one header line after another (about 8 minutes of bytes at 0.5 s)
ENDLESS_HEAD = b"GET /ping HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 1000


def test_trickled_heads_on_kept_alive_connections_leave_the_server_answering(shared_server):
    """Kept-alive connections whose next head comes a byte every 0.5 s hold no thread."""
    socks = open_stalled(shared_server.port, raw_http.request("GET", "/ping"))
    try:
        first = [raw_http.read_response(sock).status for sock in socks]
        with Trickle(socks, ENDLESS_HEAD) as trickle:
            trickle.under_way.wait(MARGIN_S)
            resp = requests.get(f"{shared_server.url}/ping", timeout=GUNICORN_STALL_S + MARGIN_S)
            trickle.stop()
    finally:
        close_all(socks)
    assert first == [200] * STALLED
    assert resp.status_code == 200
    # answered while every trickle still went on: none of them held a thread
    assert trickle.open_at_stop == STALLED


def test_trickled_head_is_cut_off_by_the_head_deadline(shared_server):
    """A byte every 0.5 s never stalls a read: only the deadline for the whole head ends it."""
    socks = open_stalled(shared_server.port, b"", count=1)
    try:
        with Trickle(socks, ENDLESS_HEAD):
            waited = seconds_until_closed(socks[0])
    finally:
        close_all(socks)
    assert waited < HEAD_READ_TIMEOUT_S + MARGIN_S


def test_head_in_pieces_and_a_pipelined_request_are_each_served(shared_server):
    """A head sent a byte at a time is one request; a second one sent right behind it is served."""
    first = raw_http.request("GET", "/ping")
    second = raw_http.request("GET", "/ping", {"Connection": "close"})
    with raw_http.connect(shared_server.port) as sock:
        for byte in range(len(first) - 1):
            sock.sendall(first[byte : byte + 1])
            time.sleep(0.01)
        sock.sendall(first[-1:] + second)
        answers = raw_http.read_to_close(sock)
    assert answers.count(b"HTTP/1.1 200 ") == 2, answers
    assert answers.count(b"pong: Cashman is up") == 2, answers
