"""Raw bytes to a real gunicorn: broken request bodies and request lines.

What gunicorn itself parses (chunk framing, the request line) fails before or
while the app reads; the client must still get an answer, the log no traceback.
Loopback only, every socket wait bounded.
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.support.live import LiveServer, live_issuer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
SCOPES = ["read:transactions", "write:transactions"]
TIMEOUT_S = 20
MAX_RESPONSE_BYTES = 1 << 20


@pytest.fixture(scope="module")
def issuer():
    with live_issuer() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def token(issuer):
    return issuer.kit.mint(scopes=SCOPES, expires_in=600)


@pytest.fixture(scope="module")
def server(issuer, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn-input")
    env = {**issuer.env(), "DATABASE_URL": f"sqlite:///{tmp / 'cashman.db'}"}
    with LiveServer(env, tmp / "server.log", workers=1) as server:
        yield server


def exchange(port: int, raw: bytes, *, half_close: bool = False) -> bytes:
    """Send ``raw``, optionally end our side, and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while len(answer) < MAX_RESPONSE_BYTES:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    return answer


def status_and_json(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def chunked_request(method: str, path: str, token: str, body: bytes) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(
    ("body", "half_close"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", False),  # chunk size not hex
        (b"3\r\nabcXY0\r\n\r\n", False),  # no CRLF after the chunk's data
        (b'20\r\n{"description": "x"', True),  # the client leaves mid-chunk
    ],
)
def test_broken_chunked_body_is_a_json_400(server, token, method, body, half_close):
    path = "/incomes/1" if method == "PATCH" else "/incomes"
    raw = chunked_request(method, path, token, body)
    status, answer = status_and_json(exchange(server.port, raw, half_close=half_close))
    assert (status, answer["code"]) == (400, "invalid_body")
    assert "Traceback" not in server.output()


@pytest.mark.parametrize(
    "request_line",
    [
        "GET /incomes?access_token={token}\x01 HTTP/1.1",
        "GET /incomes?a=1&access_token={token} x HTTP/1.1",
        "GET /incomes/{token}\x01 HTTP/1.1",
    ],
)
def test_malformed_request_line_never_logs_the_token(server, token, request_line):
    raw = request_line.format(token=token) + "\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    answer = exchange(server.port, raw.encode())
    assert answer.startswith(b"HTTP/1.1 400")
    assert token not in server.output()
    assert token.split(".")[2] not in server.output()
