"""A JWK Set served over real HTTP on loopback: the test kit's, and the development issuer's.

``AuthKit.publish`` serves a key set through ``responses``, which only reaches
``requests`` calls in the test's own process. A server in another process (a
live gunicorn or granian under test, the development server) needs a real
endpoint: ``JWKSServer`` is one, bound to a loopback host only (SPEC §2's
``localhost``, ``127.0.0.1``, ``::1``), answering from a daemon thread::

    from auth.testing import AuthKit, JWKSServer

    kit = AuthKit()
    with JWKSServer(kit.jwks) as server:   # kit.jwks is read on every request
        env = kit.env(AUTH0_JWKS_URL=server.url)
        ...                                # start the API with env, mint tokens, call it

A test of the API's JWKS handling can make it misbehave: ``server.answer(Answer(
status=503))``, a body trickled byte by byte, a connection reset, a redirect.
Every wait in a handler ends when ``close()`` is called, so no test waits for a
sleeping thread, and every request is recorded in ``requests``.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from auth.loopback import is_loopback

JWKS_PATH = "/.well-known/jwks.json"
POLL_INTERVAL_S = 0.1  # how soon close() is noticed (the stdlib's 0.5 s slows every test)
KeySetSource = Callable[[], Mapping[str, Any]] | Mapping[str, Any]


@dataclass(frozen=True)
class Answer:
    """What the server sends for one path; the default is the key set, 200, in one piece."""

    status: int = 200
    #: the body; None sends the current key set as JSON
    body: bytes | None = None
    content_type: str = "application/json"
    #: more headers (``Content-Encoding``, ``Location``...); a ``Content-Length`` here wins
    headers: Mapping[str, str] = field(default_factory=dict)
    #: False: no ``Content-Length``, the body ends when the connection closes
    send_length: bool = True
    #: seconds to wait before the status line
    delay_s: float = 0.0
    #: write the body in pieces of this many bytes (0: at once), ``chunk_delay_s`` apart
    chunk_size: int = 0
    chunk_delay_s: float = 0.0
    #: the status line and headers too in those pieces (a server trickling its head)
    trickle_head: bool = False
    #: accept the request, then reset the connection without any response
    reset: bool = False


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the server saw: its path (query dropped) and headers."""

    path: str
    headers: Mapping[str, str]


class JWKSServer(ThreadingHTTPServer):
    """A key set at ``url`` (``http://<host>:<port>/.well-known/jwks.json``), served at once."""

    daemon_threads = True
    allow_reuse_address = True  # a test may close it and serve again on the same port

    def __init__(
        self,
        jwks: KeySetSource,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        handler: type[BaseHTTPRequestHandler] | None = None,
    ) -> None:
        """Bind ``host:port`` (0: a free port) and start serving ``jwks`` in a daemon thread.

        ``jwks``: the key set document, or a callable returning it on each request (so
        ``kit.jwks`` shows rotations). ``host`` must be loopback (``localhost``,
        ``127.0.0.1``, ``::1``, bracketed or not), else ``ValueError``; ``OSError`` if
        the port cannot be bound. ``handler``: a subclass of this module's request
        handler that answers more (the development issuer's token endpoint).
        """
        if not is_loopback(host):
            raise ValueError(f"a JWKS server binds to loopback only, not {host!r}")
        host = host.strip("[]")
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), handler or JWKSHandler)
        self.jwks = jwks
        self.requests: list[ReceivedRequest] = []
        self._answers: dict[str, Answer] = {JWKS_PATH: Answer()}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread = threading.Thread(
            target=self.serve_forever, args=(POLL_INTERVAL_S,), name="jwks-server", daemon=True
        )
        self._thread.start()

    @property
    def issuer(self) -> str:
        """``http://<host>:<port>/``: an issuer URL whose default JWKS URL is ``url``."""
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host  # bytes only for AF_UNIX
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    @property
    def url(self) -> str:
        """The key set's URL (``AUTH0_JWKS_URL``)."""
        return self.issuer.rstrip("/") + JWKS_PATH

    @property
    def fetches(self) -> int:
        """How many requests reached the key set's path, whatever was answered."""
        with self._lock:
            return sum(1 for request in self.requests if request.path == JWKS_PATH)

    def answer(self, answer: Answer, path: str = JWKS_PATH) -> None:
        """Answer ``path`` with ``answer`` from the next request on; other paths are 404."""
        with self._lock:
            self._answers[path] = answer

    def close(self) -> None:
        """Stop serving and release the port; handlers still waiting give up at once."""
        self._closing.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _received(self, path: str, headers: Mapping[str, str]) -> Answer | None:
        with self._lock:
            self.requests.append(ReceivedRequest(path, headers))
            return self._answers.get(path)

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if the server is closing meanwhile."""
        return seconds > 0 and self._closing.wait(seconds)

    def _body(self, answer: Answer) -> bytes:
        if answer.body is not None:
            return answer.body
        jwks = self.jwks() if callable(self.jwks) else self.jwks
        return json.dumps(jwks).encode()


class JWKSHandler(BaseHTTPRequestHandler):
    """GET: the key set (or the ``Answer`` set for the path); every request recorded."""

    server: JWKSServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        """Record the request, then send the path's ``Answer`` (404 for a path without one)."""
        path = self.path.split("?", 1)[0]
        answer = self.server._received(path, dict(self.headers.items()))
        if answer is None:
            answer = Answer(status=404, body=b'{"error": "not_found"}')
        if answer.reset:
            # RST instead of FIN: the client sees a dropped connection, no status line.
            # Closed here, the reader made from the socket first (it holds the socket
            # open): the server's own end of a request shuts the socket down, which sends
            # a FIN (a clean end of stream) before any RST; on a closed socket it fails,
            # and socketserver ignores that (``shutdown_request``)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
            self.close_connection = True
            return
        if self.server._wait(answer.delay_s):
            self.close_connection = True  # closing: give up this request, wait for no other
            return
        body = self.server._body(answer)
        headers = [("Content-Type", answer.content_type)]
        if answer.send_length and "Content-Length" not in answer.headers:
            headers.append(("Content-Length", str(len(body))))
        headers += [*answer.headers.items(), ("Connection", "close")]
        if answer.trickle_head:
            reason = self.responses.get(answer.status, ("",))[0]
            lines = [f"HTTP/1.1 {answer.status} {reason}", *(f"{n}: {v}" for n, v in headers)]
            body = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        else:
            self.send_response(answer.status)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
        self._write(body, answer)

    def _write(self, data: bytes, answer: Answer) -> None:
        size = answer.chunk_size or len(data) or 1
        try:
            for start in range(0, len(data), size):
                self.wfile.write(data[start : start + size])
                self.wfile.flush()
                if start + size < len(data) and self.server._wait(answer.chunk_delay_s):
                    break
        except OSError:
            pass  # the client gave up (its timeout or size cap): often the point
        self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What ``http.server`` refuses itself (a malformed request line, an unknown
        version, an unsupported method), as JSON: ``{"error": "<status name>"}``.

        ``message`` and ``explain`` are dropped: the standard page puts the client's
        request line (which may hold a token) in the reason phrase and an HTML body.
        """
        status = HTTPStatus(code)
        body = json.dumps({"error": status.name.lower()}).encode()
        self.close_connection = True
        # a request line it could not read leaves "HTTP/0.9", which would send the body
        # without a status line: answer as HTTP/1.0 instead
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        self.send_response(status)  # http.server's own reason phrase, nothing echoed
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and status >= 200 and status not in (204, 304):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``requests``, and the API logs its own lines."""
