"""A real HTTP issuer on loopback that serves a JWKS, or fails in a chosen way.

The fault tests need a JWKS endpoint that misbehaves like real networks do
(closed port, reset connection, 5xx, a body that trickles in, a 10 MB body,
a redirect), so the JWKS cache's timeouts and limits are tested through its
real ``requests`` session rather than a mock. Every handler that waits does
so on an event, so ``stop()`` never waits for a sleeping thread.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JWKS_PATH = "/.well-known/jwks.json"
REDIRECT_TARGET = "/moved/jwks.json"

MODES = (
    "ok",  # 200, the JWKS
    "down",  # the port is unbound: connections are refused by the kernel
    "refusing",  # the connection is accepted, then closed without a response
    "5xx",  # 503 with a JSON body
    "slow",  # nothing for longer than any read timeout, then the JWKS
    "trickle",  # 200, the JWKS one byte a second
    "garbage",  # 200 application/json, bytes that are not JSON
    "html",  # 200 text/html, a login page
    "huge",  # 200 application/json, a 10 MB body
    "redirect",  # 302 to a path that serves the valid JWKS (must not be followed)
    "empty",  # 200, {"keys": []}
)


class FaultyIssuer:
    """``ThreadingHTTPServer`` on 127.0.0.1 whose JWKS answer is set by ``mode``."""

    def __init__(self, jwks: dict[str, Any], slow_s: float = 30.0, trickle_s: float = 30.0):
        self.jwks = jwks
        self.mode = "ok"
        self.slow_s = slow_s
        self.trickle_s = trickle_s
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def issuer(self) -> str:
        """The issuer URL, with Auth0's trailing slash."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def fetches(self) -> int:
        """Connections that reached the JWKS path, whatever the mode answered."""
        with self._lock:
            return self.hits[JWKS_PATH] + self.hits[REDIRECT_TARGET]

    def start(self) -> FaultyIssuer:
        """Bind (the same port again after ``down``) and serve in a daemon thread."""
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.issuer = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; waiting handlers give up at once."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._stopping.clear()

    def set_mode(self, mode: str) -> None:
        """Switch fault; ``down`` unbinds the port and any other mode binds it again."""
        if mode not in MODES:
            raise ValueError(mode)
        if mode == "down" and self._server is not None:
            self.stop()
        elif mode != "down" and self._server is None:
            self.start()
        self.mode = mode

    def record(self, path: str) -> None:
        with self._lock:
            self.hits[path] += 1

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if the server is stopping meanwhile."""
        return self._stopping.wait(seconds)

    def __enter__(self) -> FaultyIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    issuer: FaultyIssuer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read counters, not logs."""

    def handle(self) -> None:
        if self.server.issuer.mode == "refusing":
            # accept, then reset: the client sees a dropped connection, no status line
            self.server.issuer.record(JWKS_PATH)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up (its timeout or size limit): that is the point

    def do_GET(self) -> None:
        issuer = self.server.issuer
        path = self.path.split("?", 1)[0]
        issuer.record(path)
        if path == REDIRECT_TARGET:
            return self._send(200, "application/json", json.dumps(issuer.jwks).encode())
        if path != JWKS_PATH:
            return self._send(404, "application/json", b'{"error": "not found"}')
        getattr(self, "_mode_" + issuer.mode.replace("5xx", "server_error"))()

    def _mode_ok(self) -> None:
        self._send(200, "application/json", json.dumps(self.server.issuer.jwks).encode())

    def _mode_empty(self) -> None:
        self._send(200, "application/json", b'{"keys": []}')

    def _mode_server_error(self) -> None:
        self._send(503, "application/json", b'{"error": "temporarily unavailable"}')

    def _mode_slow(self) -> None:
        if not self.server.issuer.wait(self.server.issuer.slow_s):
            self._mode_ok()

    def _mode_trickle(self) -> None:
        body = json.dumps(self.server.issuer.jwks).encode()
        self._head(200, "application/json", len(body))
        for i in range(min(len(body), int(self.server.issuer.trickle_s))):
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            if self.server.issuer.wait(1.0):
                return
        self.close_connection = True

    def _mode_garbage(self) -> None:
        self._send(200, "application/json", b"\x00\xff{keys: [}\x81garbage" * 16)

    def _mode_html(self) -> None:
        self._send(200, "text/html", b"<!doctype html><html><body>Sign in</body></html>")

    def _mode_huge(self) -> None:
        size = 10 * 1024 * 1024
        self._head(200, "application/json", size)
        chunk = b'{"keys": [' + b" " * (64 * 1024 - 10)
        sent = 0
        while sent < size:
            piece = chunk[: size - sent] if sent == 0 else b" " * min(64 * 1024, size - sent)
            self.wfile.write(piece)
            sent += len(piece)

    def _mode_redirect(self) -> None:
        self.send_response(302)
        self.send_header("Location", f"http://127.0.0.1:{self.server.issuer.port}{REDIRECT_TARGET}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _head(self, status: int, content_type: str, length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self._head(status, content_type, len(body))
        self.wfile.write(body)
