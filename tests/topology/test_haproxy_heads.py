"""HAProxy (``deploy/haproxy.cfg``) lets through every request head the API accepts.

SPEC §3 and §3a allow an 8 KiB access token and, under DPoP, an 8 KiB proof: one request
head of some 17 KiB with its other fields. HAProxy's default buffer (16 KiB) refused it
with its own HTML 400 before any instance saw it; the instance behind it must answer.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests

from tests.topology.haproxy import HAProxy
from tests.topology.instances import Instance, production_entry
from tests.topology.jwks_counter import CountingIssuer

pytestmark = pytest.mark.slow


@pytest.fixture
def issuer() -> Iterator[CountingIssuer]:
    with CountingIssuer() as counting:
        yield counting


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        # the largest token and proof the API reads reach it (this proof is no JWS)
        ({"Authorization": "DPoP " + "a" * 8192, "DPoP": "b" * 8192}, 401, "invalid_dpop_proof"),
        # one character more than a token may have: the API's own JSON 400
        ({"Authorization": "Bearer " + "a" * 16000}, 400, "invalid_header"),
    ],
)
def test_heads_the_api_accepts_reach_the_instance(
    issuer, tmp_path, topology_programs, headers, status, code
):
    env = {
        "AUTH0_ISSUER": issuer.issuer,
        "API_AUDIENCE": issuer.kit.audience,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cashman.db'}",
        "API_BASE_URL": "http://127.0.0.1:8080",  # DPoP on: the proof is read too
    }
    instance = Instance("api1", env, tmp_path, issuer.issuer, entry=production_entry)
    instance.start()
    try:
        instance.wait_ready()
        with HAProxy(tmp_path, [instance.address] * 3) as haproxy:
            haproxy.wait_state("api1", "UP")
            extra = {"X-Extra": "c" * 500}
            resp = requests.get(
                f"{haproxy.url}/secured/ping", headers={**headers, **extra}, timeout=20
            )
    finally:
        instance.stop()
    assert resp.headers["Content-Type"] == "application/json", resp.text[:200]
    assert (resp.status_code, resp.json()["code"]) == (status, code)


def test_haproxy_log_never_holds_a_method_shaped_like_a_token(tmp_path, topology_programs):
    """Any token-shaped word is a valid method (RFC 9110 §9.1): the log line names one of
    the standard methods or ``other``, never the word sent (SPEC §3: tokens never logged)."""
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
    closed = "127.0.0.1:9"  # nothing listens there: HAProxy answers (and logs) itself
    with HAProxy(tmp_path, [closed] * 3) as haproxy:
        for name in ("api1", "api2", "api3"):
            haproxy.wait_state(name, "DOWN")
        for method in (token, "GET"):
            with socket.create_connection(("127.0.0.1", haproxy.port), timeout=15) as sock:
                sock.sendall(f"{method} /ping HTTP/1.1\r\nHost: cashman\r\n\r\n".encode())
                assert sock.recv(4096).startswith(b"HTTP/1.1 503")
        lines = _wait_for_log_lines(haproxy.log_path, " 503 ", 2)
    assert token not in haproxy.log_path.read_text()
    assert sorted(line.split()[2] for line in lines) == ["GET", "other"], lines


def test_haproxy_keeps_only_the_request_ids_the_app_keeps(tmp_path, topology_programs):
    """An X-Request-ID shaped like a token, or a token's head, is replaced at the edge, as
    the app replaces it (``cashman.request_log.request_id_from``): HAProxy logged it and
    passed it on, so its id and the app's no longer matched (SPEC §3: tokens never
    logged; §6: one request id)."""
    token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    refused = [token, token[:40], "abcdefghij.klm.nop", "goodid,has space", "goodid,eyJhbGciOiJ"]
    kept = "trace-4bf92f3577b34da6.a3ce929d0e0e4736"
    closed = "127.0.0.1:9"  # nothing listens there: HAProxy answers (and logs) itself
    with HAProxy(tmp_path, [closed] * 3) as haproxy:
        for name in ("api1", "api2", "api3"):
            haproxy.wait_state(name, "DOWN")
        for request_id in [*refused, kept]:
            resp = requests.get(
                f"{haproxy.url}/ping", headers={"X-Request-ID": request_id}, timeout=15
            )
            assert resp.status_code == 503
        # two fields, each sane alone: one id is kept or none
        with socket.create_connection(("127.0.0.1", haproxy.port), timeout=15) as sock:
            sock.sendall(
                b"GET /ping HTTP/1.1\r\nHost: cashman\r\nX-Request-ID: first-id\r\n"
                b"X-Request-ID: second-id\r\nConnection: close\r\n\r\n"
            )
            assert sock.recv(4096).startswith(b"HTTP/1.1 503")
        lines = _wait_for_log_lines(haproxy.log_path, " 503 ", len(refused) + 2)
    logged = haproxy.log_path.read_text()
    assert len(lines) == len(refused) + 2, logged
    assert kept in logged
    for part in ("eyJ", "abcdefghij", "goodid", "has space", "first-id", "second-id"):
        assert part not in logged, (part, logged)


def _wait_for_log_lines(path, marker: str, count: int, deadline_s: float = 10.0) -> list[str]:
    """The first ``count`` lines of ``path`` holding ``marker``, waited for (HAProxy logs
    a request when it ends)."""
    end = time.monotonic() + deadline_s
    while True:
        lines = [ln for ln in path.read_text().splitlines() if marker in ln]
        if len(lines) >= count or time.monotonic() > end:
            return lines[:count]
        time.sleep(0.05)
