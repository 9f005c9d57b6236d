"""SIGTERM drains, a dead worker is replaced (SPEC §6), on both production servers.

A rolling restart sends SIGTERM: the server must stop accepting, finish what
is in flight and exit, so that no request it acknowledged is lost. A worker
killed outright must be replaced, and its end logged. Loopback only; every
wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import uuid

import pytest
import requests

from tests.support import raw_http
from tests.support.live import live_issuer
from tests.support.processes import SERVERS, child_pids, free_port, production

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
SCOPES = ["read:transactions", "write:transactions"]
EXIT_DEADLINE_S = 40
TIMEOUT_S = 20


@pytest.fixture(scope="module")
def issuer():
    with live_issuer() as issuer:
        yield issuer


@pytest.fixture
def token(issuer):
    return issuer.kit.mint(scopes=SCOPES, expires_in=600)


def start_server(kind, tmp_path, issuer, workers=2):
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = production(kind, tmp_path, port, workers=workers, **issuer.env())
    server.url, server.port = f"http://127.0.0.1:{port}", port
    server.wait_http(f"{server.url}/ping")
    return server


def stored_descriptions(kind, tmp_path, issuer, token) -> list[str]:
    """Every transaction of the caller, read back through a fresh server on the same database."""
    again = start_server(kind, tmp_path, issuer, workers=1)
    descriptions: list[str] = []
    try:
        # every page: an idle machine acknowledges more than one page's worth in the test
        url = f"{again.url}/transactions?limit=500"
        for _ in range(100):
            resp = requests.get(
                url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_S
            )
            assert resp.status_code == 200
            descriptions += [item["description"] for item in resp.json()]
            if "next" not in resp.links:
                break
            url = again.url + resp.links["next"]["url"]
        else:
            raise AssertionError("more than 100 pages")
    finally:
        again.stop()
    return descriptions


@pytest.mark.parametrize("kind", SERVERS)
def test_sigterm_finishes_the_request_in_flight_and_exits(tmp_path, issuer, token, kind):
    server = start_server(kind, tmp_path, issuer)
    body = json.dumps({"description": "in flight at SIGTERM", "amount": 7}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        with raw_http.connect(server.port) as sock:
            # the head and half the body: the request is in flight when SIGTERM arrives
            sock.sendall(raw_http.request("POST", "/incomes", headers, body)[: -len(body) // 2])
            time.sleep(0.5)
            server.popen.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            late = LateRequest(server.port)
            sock.sendall(body[len(body) - len(body) // 2 :])
            answer = raw_http.read_response(sock)
        status = server.popen.wait(timeout=EXIT_DEADLINE_S)
        late.join(EXIT_DEADLINE_S)
    finally:
        server.stop()
    assert (answer.status, status) == (201, 0)
    # not accepted, refused: a connection the kernel queued and the server then reset
    # would cost a request the balancer must not repeat (deploy/README.md)
    assert late.outcome == "refused", late.outcome
    assert stored_descriptions(kind, tmp_path, issuer, token) == ["in flight at SIGTERM"]


def test_gunicorn_serves_the_connections_queued_when_sigterm_came(tmp_path, issuer):
    # The kernel completes handshakes before the worker accepts them. At SIGTERM gunicorn
    # stopped accepting and closed its listener only at the end: what was queued then was
    # reset, requests a load balancer must not repeat among them. The worker is stopped
    # (SIGSTOP) while they queue, so none is accepted before SIGTERM; two of them were
    # closed by their clients, which must not end the taking of the others.
    server = start_server("gunicorn", tmp_path, issuer, workers=1)
    (worker,) = child_pids(server.popen.pid)  # it answered /ping: its worker is up
    sockets = []
    try:
        os.kill(worker, signal.SIGSTOP)
        # live, closed, closed, live, live: the worker's last poll may take the first
        for live in (True, False, False, True, True):
            sock = raw_http.connect(server.port)
            if not live:
                sock.close()
                continue
            raw_http.send_all(sock, raw_http.request("GET", "/ping"))
            sockets.append(sock)
        server.popen.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # the master closes its listener and signals the worker
        os.kill(worker, signal.SIGCONT)
        statuses = []
        for sock in sockets:
            try:
                statuses.append(raw_http.read_response(sock).status)
            except OSError as exc:
                statuses.append(type(exc).__name__)
        status = server.popen.wait(timeout=EXIT_DEADLINE_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGCONT)
        for sock in sockets:
            sock.close()
        server.stop()
    assert (statuses, status) == ([200, 200, 200], 0)


class LateRequest(threading.Thread):
    """A GET /ping on a new connection: refused, never answered, or answered with a status."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.outcome = "pending"
        self.start()

    def run(self) -> None:
        try:
            sock = raw_http.connect(self.port, timeout_s=EXIT_DEADLINE_S)
        except ConnectionRefusedError:
            self.outcome = "refused"
            return
        with sock:
            raw_http.send_all(sock, raw_http.request("GET", "/ping"))
            try:
                self.outcome = f"answered {raw_http.read_response(sock).status}"
            except (ConnectionError, OSError):
                self.outcome = "never answered"


@pytest.mark.parametrize("kind", SERVERS)
def test_every_acknowledged_request_survives_a_restart_under_traffic(tmp_path, issuer, token, kind):
    server = start_server(kind, tmp_path, issuer)
    acknowledged: list[str] = []
    stop = threading.Event()

    def post_until_refused() -> None:
        with requests.Session() as session:
            for n in range(2000):
                if stop.is_set():
                    return
                description = f"tx {n} {uuid.uuid4().hex[:8]}"
                try:
                    resp = session.post(
                        f"{server.url}/incomes",
                        json={"description": description, "amount": 1},
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=TIMEOUT_S,
                    )
                except requests.ConnectionError:
                    return  # the server is gone: nothing was acknowledged for this one
                if resp.status_code == 201:
                    acknowledged.append(description)

    clients = [threading.Thread(target=post_until_refused) for _ in range(3)]
    try:
        for client in clients:
            client.start()
        time.sleep(1.5)
        server.popen.send_signal(signal.SIGTERM)
        status = server.popen.wait(timeout=EXIT_DEADLINE_S)
        for client in clients:
            client.join(TIMEOUT_S)
    finally:
        stop.set()
        server.stop()
    assert status == 0
    assert len(acknowledged) > 0
    assert sorted(stored_descriptions(kind, tmp_path, issuer, token)) == sorted(acknowledged)


def two_workers(server, without: int | None = None) -> list[int]:
    """The parent's two workers (none of them ``without``), waited for (bounded)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        pids = child_pids(server.popen.pid)
        if len(pids) == 2 and without not in pids:
            return pids
        time.sleep(0.2)
    return child_pids(server.popen.pid)


@pytest.mark.parametrize("kind", SERVERS)
def test_a_killed_worker_is_replaced_and_its_end_logged(tmp_path, issuer, kind):
    server = start_server(kind, tmp_path, issuer)
    try:
        # /ping answers once one worker is up: wait for both
        before = two_workers(server)
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        replaced = two_workers(server, without=victim)
        # on Linux each granian worker listens on a socket of its own (SO_REUSEPORT): killed
        # before the other worker had its socket, nothing listened until one was ready
        server.wait_http(f"{server.url}/ping")
        answers = [requests.get(f"{server.url}/ping", timeout=TIMEOUT_S) for _ in range(10)]
    finally:
        server.stop()
    assert victim not in replaced and len(replaced) == 2
    assert {resp.status_code for resp in answers} == {200}
    exits = [json.loads(line) for line in server.stderr.splitlines() if '"worker_exit"' in line]
    assert {"event": "worker_exit", "pid": victim} in exits


@pytest.mark.parametrize("kind", SERVERS)
def test_sigterm_while_workers_still_start_exits_promptly(tmp_path, issuer, kind):
    """A rolling restart may stop a server whose second worker is still loading the app."""
    for attempt in range(3):
        # the first worker answers /ping; the second one may still be building the app
        server = start_server(kind, tmp_path / str(attempt), issuer)
        started = time.monotonic()
        server.popen.send_signal(signal.SIGTERM)
        try:
            status = server.popen.wait(timeout=EXIT_DEADLINE_S)
        finally:
            server.stop()
        assert (status, time.monotonic() - started < 10) == (0, True)


def _running(pid: int) -> bool:
    """``pid`` exists and is not a zombie waiting for whoever adopted it."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_granian_workers_stop_when_their_parent_is_killed(tmp_path, issuer):
    """A SIGKILLed parent leaves its workers orphans: they must stop (finishing what is in
    flight) rather than keep serving the port, so that the instance is really gone for
    its load balancer and starts again on the same port."""
    server = start_server("granian", tmp_path, issuer)
    try:
        workers = child_pids(server.popen.pid)
        assert len(workers) == 2
        os.kill(server.popen.pid, signal.SIGKILL)
        server.popen.wait(timeout=TIMEOUT_S)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_running(pid) for pid in workers):
            time.sleep(0.2)
        left = [pid for pid in workers if _running(pid)]
        (tmp_path / "again").mkdir()
        again = production("granian", tmp_path / "again", server.port, **issuer.env())
        try:
            again.wait_http(f"{server.url}/ping")
            pinged = requests.get(f"{server.url}/ping", timeout=TIMEOUT_S).status_code
        finally:
            again.stop()
    finally:
        for pid in child_pids(server.popen.pid) + [p for p in workers if _running(p)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.stop()
    assert left == []
    assert pinged == 200


def test_gunicorn_reloads_on_sighup_with_its_addresses_held(tmp_path, issuer):
    """gunicorn runs its configuration file again on SIGHUP, holding the API's and the
    metrics listener's addresses itself: the checks that refuse a taken address at start
    must not stop the server then."""
    metrics_port = free_port()
    port = free_port()
    env = {**issuer.env(), "METRICS_BIND": f"127.0.0.1:{metrics_port}"}
    server = production("gunicorn", tmp_path, port, workers=2, **env)
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_http(f"{url}/ping")
        before = child_pids(server.popen.pid)
        os.kill(server.popen.pid, signal.SIGHUP)
        # the old workers are replaced by new ones (bounded wait)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = child_pids(server.popen.pid)
            if len(now) == 2 and not set(now) & set(before):
                break
            time.sleep(0.2)
        answers = [requests.get(f"{url}/ping", timeout=TIMEOUT_S).status_code for _ in range(5)]
        metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=TIMEOUT_S)
        alive = server.popen.poll() is None
    finally:
        server.stop()
    assert alive, server.stderr[-2000:]
    assert set(answers) == {200}
    assert metrics.status_code == 200


def test_gunicorn_reload_on_sighup_does_not_migrate_again(tmp_path, issuer):
    """SPEC §6: the schema is migrated once. A reload whose migration failed (here: the
    database file no longer a database) stopped the whole server, /ping included."""
    port = free_port()
    database = tmp_path / "reload.db"
    server = production(
        "gunicorn", tmp_path, port, DATABASE_URL=f"sqlite:///{database}", **issuer.env()
    )
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_http(f"{url}/ping")
        before = child_pids(server.popen.pid)
        database.write_bytes(b"not a database" * 100)
        os.kill(server.popen.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30  # the worker is replaced, or the master exits
        while time.monotonic() < deadline and server.popen.poll() is None:
            if child_pids(server.popen.pid) not in ([], before):
                break
            time.sleep(0.2)
        alive = server.popen.poll() is None
        pinged = requests.get(f"{url}/ping", timeout=TIMEOUT_S).status_code if alive else None
    finally:
        server.stop()
    assert alive, server.stderr[-2000:]
    assert pinged == 200
