"""Slow clients (SPEC section 6): 200 connections trickling their request heads byte by byte
must not stop ``/ping`` from answering a new client within a second.

Against one instance on the production entry, and through HAProxy
(``deploy/haproxy.cfg``) in front of it. HAProxy reads whole requests itself
and gives up on one after ``timeout http-request`` (5 s) with a JSON 408, so
slow clients never reach an instance behind it. An instance exposed directly
defends itself on both production servers: granian reads request heads
asynchronously (with a 30 s header read timeout), and gunicorn's worker
(``cashman.gunicorn_worker``) reads them on its event loop, giving a thread
only a whole head, with a 5 s stall and a 30 s head timeout; so slow
connections cost neither server a thread.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests

from tests.topology.haproxy import HAProxy
from tests.topology.instances import (
    SERVE_MODULE,
    Instance,
    gunicorn_entry,
    production_entry,
)
from tests.topology.jwks_counter import CountingIssuer
from tests.topology.slowloris import PingProbe, Slowloris

pytestmark = pytest.mark.slow

SLOW_CONNECTIONS = 200
ATTACK_S = 12.0
PROBE_S = 8.0  # longer than HAProxy's 5 s request timeout: reopened connections too
ANSWER_WITHIN_S = 1.0

ENTRIES = [pytest.param(production_entry, id="production-entry")]
if SERVE_MODULE.exists():  # otherwise the production entry above is gunicorn already
    ENTRIES.append(pytest.param(gunicorn_entry, id="gunicorn"))


@pytest.fixture
def issuer() -> Iterator[CountingIssuer]:
    with CountingIssuer() as counting:
        yield counting


def _instance(issuer: CountingIssuer, tmp_path, entry) -> Instance:
    env = {
        "AUTH0_ISSUER": issuer.issuer,
        "API_AUDIENCE": issuer.kit.audience,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cashman.db'}",
    }
    instance = Instance("api1", env, tmp_path, issuer.issuer, entry=entry)
    instance.start()
    instance.wait_ready()
    return instance


def _attack(host: str, port: int, url: str) -> tuple[Slowloris, list[tuple[int | None, float]]]:
    slow = Slowloris(host, port, SLOW_CONNECTIONS, ATTACK_S, interval_s=0.5).start()
    try:
        slow.wait_open()
        probes = PingProbe(url, timeout_s=ANSWER_WITHIN_S + 1).run(PROBE_S)
    finally:
        slow.stop()
    return slow, probes


def _late_or_failed(probes):
    return [(status, round(s, 2)) for status, s in probes if status != 200 or s > ANSWER_WITHIN_S]


@pytest.mark.parametrize("entry", ENTRIES)
def test_slow_clients_do_not_starve_one_instance(issuer, tmp_path, entry):
    instance = _instance(issuer, tmp_path, entry)
    try:
        slow, probes = _attack("127.0.0.1", instance.port, instance.url)
    finally:
        instance.stop()
    assert slow.stats.max_open == SLOW_CONNECTIONS, slow.stats
    assert probes and _late_or_failed(probes) == [], (slow.stats, probes)


def test_slow_clients_do_not_starve_an_instance_behind_haproxy(issuer, tmp_path, topology_programs):
    instance = _instance(issuer, tmp_path, production_entry)
    try:
        with HAProxy(tmp_path, [instance.address] * 3) as haproxy:
            slow, probes = _attack("127.0.0.1", haproxy.port, haproxy.url)
            # HAProxy gave up on them (408) and the attacker had to open new ones
            assert slow.stats.closed_by_server >= SLOW_CONNECTIONS, slow.stats
    finally:
        instance.stop()
    assert probes and _late_or_failed(probes) == [], (slow.stats, probes)


def test_haproxy_answers_in_the_api_error_shape_and_cuts_stalled_requests(
    tmp_path, topology_programs
):
    """No instance up: a JSON 503 like the API's. A stalled request head: a 408 after 5 s;
    a stalled body: a JSON 408."""
    closed = "127.0.0.1:9"  # discard port: nothing listens there
    with HAProxy(tmp_path, [closed] * 3) as haproxy:
        for name in ("api1", "api2", "api3"):
            haproxy.wait_state(name, "DOWN")
        resp = requests.get(f"{haproxy.url}/ping", timeout=10)
        assert resp.status_code == 503
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.headers["Retry-After"] == "5"
        assert json.loads(resp.content)["code"] == "service_unavailable"
        raw = _stall(haproxy.port, b"GET /ping HTTP/1.1\r\nHost: cashman\r\n")
        # a whole head whose body stops arriving: the 408 is in the API's shape
        stalled_body = _stall(
            haproxy.port,
            b"POST /incomes HTTP/1.1\r\nHost: cashman\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{",
        )
    assert raw.startswith(b"HTTP/1.1 408")
    head, _, body = stalled_body.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), stalled_body
    assert b"\r\ncontent-type: application/json" in head.lower(), stalled_body
    assert json.loads(body)["code"] == "request_timeout"


def _stall(port: int, start: bytes) -> bytes:
    """Send the start of a request and wait for HAProxy's answer (bounded by its 5 s timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(start)
        chunks = []
        while data := sock.recv(4096):
            chunks.append(data)
    return b"".join(chunks)
