"""Which requests HAProxy (``deploy/haproxy.cfg``) sends again after an instance took them
and answered nothing.

An instance killed mid-request leaves HAProxy an empty answer. A read is then repeated
on another instance (RFC 9110 §9.2.2), but a request with a DPoP proof is not: the first
instance may already have recorded the proof's ``jti`` (SPEC §3a step 5), so the same
proof resent is refused as a replay, a 401 the client did not cause. Its client gets a
502 and retries with a fresh proof. Here every instance is a stand-in that answers its
health check and drops every other request unanswered, counting them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.topology.haproxy import HAProxy

pytestmark = pytest.mark.slow


class DroppingInstance(ThreadingHTTPServer):
    """Answers ``/readyz`` with 200; closes every other request's connection unanswered."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.dropped: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self.serve_forever, args=(0.1,), daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def drop(self, path: str) -> None:
        with self._lock:
            self.dropped.append(path)


class _Handler(BaseHTTPRequestHandler):
    server: DroppingInstance
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/readyz":
            body = b'{"status": "ready"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.server.drop(self.path)
        self.close_connection = True  # nothing written: HAProxy sees an empty answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def dropping(tmp_path, topology_programs) -> Iterator[tuple[HAProxy, list[DroppingInstance]]]:
    instances = [DroppingInstance() for _ in range(3)]
    try:
        with HAProxy(tmp_path, [i.address for i in instances]) as haproxy:
            for name in ("api1", "api2", "api3"):
                haproxy.wait_state(name, "UP")
            yield haproxy, instances
    finally:
        for instance in instances:
            instance.shutdown()
            instance.server_close()


def attempts(instances: list[DroppingInstance], path: str) -> int:
    return sum(instance.dropped.count(path) for instance in instances)


def test_a_read_left_unanswered_is_sent_again(dropping):
    haproxy, instances = dropping
    resp = requests.get(f"{haproxy.url}/incomes", timeout=30)
    assert resp.status_code == 502
    assert attempts(instances, "/incomes") > 1


def test_a_request_with_a_dpop_proof_is_sent_once(dropping):
    haproxy, instances = dropping
    headers = {"Authorization": "DPoP eyJ.e30.sig", "DPoP": "eyJ.e30.proof"}
    resp = requests.get(f"{haproxy.url}/secured/ping", headers=headers, timeout=30)
    assert resp.status_code == 502
    assert resp.json()["code"] == "bad_gateway"
    assert attempts(instances, "/secured/ping") == 1
