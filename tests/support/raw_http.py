"""HTTP/1.1 over a raw socket, for tests that need to see the connection itself.

``requests`` hides whether a connection was reused or reopened; these
helpers send exact bytes and read exactly one response, so a test can tell
"kept alive" from "closed" and send a second request on the same socket.
Loopback only; every socket operation has a timeout.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_S = 20.0
MAX_RESPONSE_BYTES = 1 << 20


@dataclass
class Response:
    """One parsed response: status, headers (names lower-cased), body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def closes(self) -> bool:
        """Whether the server said it closes the connection after this response."""
        return "close" in self.headers.get("connection", "").lower()


def connect(port: int, timeout_s: float = TIMEOUT_S, host: str = "127.0.0.1") -> socket.socket:
    """A TCP connection to ``host``:``port`` (a loopback address)."""
    return socket.create_connection((host, port), timeout=timeout_s)


def request(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """The bytes of one request; ``Host`` added, ``Content-Length`` when there is a body."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    all_headers = dict(headers or {})
    if body and "Transfer-Encoding" not in all_headers:
        all_headers.setdefault("Content-Length", str(len(body)))
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def send_all(sock: socket.socket, data: bytes) -> bool:
    """Send ``data``; False if the server closed or reset the connection meanwhile.

    A server may answer and close before the whole body is sent; a client
    then reads the answer it was given (as urllib3 does).
    """
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def read_response(sock: socket.socket) -> Response:
    """Read one response (``Content-Length`` framed, or up to the close)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed before a full response head: {buffer[:200]!r}")
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    response = Response(int(status_line.split(" ", 2)[1]), headers)
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed in the middle of a response body")
            rest += data
        response.body = rest[:length]
    else:
        response.body = rest + read_to_close(sock)
    return response


def read_to_close(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (a reset counts as a close)."""
    data = b""
    while len(data) < MAX_RESPONSE_BYTES:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def exchange(port: int, raw: bytes, *, half_close: bool = False) -> bytes:
    """Send ``raw`` on a new connection, optionally end our side, read until the server closes."""
    with connect(port) as sock:
        send_all(sock, raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_to_close(sock)
