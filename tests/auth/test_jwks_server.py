"""``auth.jwks_server.JWKSServer``: the kit's key set over real HTTP on loopback.

For suites whose API runs in another process (a live server), and for tests of
the API's JWKS handling that need a misbehaving issuer. Serving on ``::1`` is
tested through the development issuer (``test_dev_issuer.py``).
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from auth import AuthSettings, TokenVerifier
from auth.testing import Answer, AuthKit, JWKSServer


def test_jwks_server_serves_the_kit_key_set_live(kit):
    with JWKSServer(kit.jwks) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.url.endswith("/.well-known/jwks.json")
        assert requests.get(server.url, timeout=5).json() == kit.jwks()
        kit.rotate("rotated")
        assert [k["kid"] for k in requests.get(server.url, timeout=5).json()["keys"]] == [
            "test-key-1",
            "rotated",
        ]
        assert server.fetches == 2
        assert server.requests[0].headers["User-Agent"].startswith("python-requests/")


def test_jwks_server_fixed_document_and_unknown_path(kit):
    with JWKSServer({"keys": []}) as server:
        assert requests.get(server.url, timeout=5).json() == {"keys": []}
        missing = requests.get(server.issuer + "other", timeout=5)
        assert missing.status_code == 404
        assert missing.json() == {"error": "not_found"}  # as every other code: snake case
        assert server.fetches == 1
        assert [r.path for r in server.requests] == ["/.well-known/jwks.json", "/other"]


def test_jwks_server_as_issuer_of_a_kit_for_a_verifier():
    with JWKSServer({"keys": []}) as server:
        kit = AuthKit(issuer=server.issuer)  # plain http is allowed on loopback
        server.jwks = kit.jwks
        settings = AuthSettings.from_env(kit.env())
        assert settings.jwks_urls[kit.issuer] == server.url
        assert TokenVerifier(settings).verify(kit.mint())["sub"] == "user-1"


def test_jwks_server_with_a_jwks_url_override(auth_kit, auth_jwks_server):
    env = auth_kit.env(AUTH0_JWKS_URL=auth_jwks_server.url)
    assert TokenVerifier(AuthSettings.from_env(env)).verify(auth_kit.mint())["sub"] == "user-1"
    assert auth_jwks_server.fetches == 1


def test_jwks_server_answers(kit):
    with JWKSServer(kit.jwks) as server:
        server.answer(Answer(status=503, body=b"{}"))
        assert requests.get(server.url, timeout=5).status_code == 503
        server.answer(Answer(status=302, headers={"Location": server.issuer + "moved"}))
        server.answer(Answer(), path="/moved")
        moved = requests.get(server.url, timeout=5)
        assert (moved.status_code, moved.json()) == (200, kit.jwks())
        server.answer(Answer(reset=True))
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url, timeout=5)
        # a reset, not a clean end of stream (a FIN first would read as b"")
        with socket.create_connection(server.server_address[:2], timeout=5) as sock:
            sock.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            with pytest.raises(ConnectionResetError):
                sock.recv(1024)
        server.answer(Answer(body=b"abcdef", chunk_size=2, chunk_delay_s=0.05, send_length=False))
        assert requests.get(server.url, timeout=5).content == b"abcdef"


def test_jwks_server_close_ends_waiting_handlers_at_once(kit):
    server = JWKSServer(kit.jwks)
    server.answer(Answer(delay_s=60))
    outcome: list[object] = []

    def fetch() -> None:
        try:
            outcome.append(requests.get(server.url, timeout=30).status_code)
        except requests.RequestException as exc:
            outcome.append(type(exc).__name__)

    client = threading.Thread(target=fetch)
    client.start()
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    server.close()
    client.join(timeout=20)  # a bound, not a timing: the 60 s wait must not be waited out
    assert not client.is_alive()
    assert outcome and outcome[0] != 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com"])  # noqa: S104
def test_jwks_server_binds_to_loopback_only(host):
    with pytest.raises(ValueError, match="loopback only"):
        JWKSServer({"keys": []}, host=host)


def _raw_exchange(server: JWKSServer, request: bytes) -> bytes:
    """Send ``request`` as is and read the whole answer (the server closes after it)."""
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("request_line", "status", "error"),
    [
        # a token sent where the version goes: http.server echoed it in the reason
        # phrase and in an HTML page
        (
            b"GET /.well-known/jwks.json eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            400,
            "bad_request",
        ),
        (b"GET /.well-known/jwks.json HTTP/2.0", 505, "http_version_not_supported"),
        (b"PUT /eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln HTTP/1.1", 501, "not_implemented"),
    ],
)
def test_jwks_server_refusals_are_json_and_echo_nothing(kit, request_line, status, error):
    with JWKSServer(kit.jwks) as server:
        answer = _raw_exchange(server, request_line + b"\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1.") and f" {status} " in status_line + " "
    assert b"eyJ" not in answer
    assert "Content-Type: application/json" in fields
    assert json.loads(body) == {"error": error}
