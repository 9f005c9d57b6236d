"""A failing database, for real: PostgreSQL cut away mid-run, and a SQLite file locked.

The production server talks to PostgreSQL through a ``CuttableProxy``. ``cut()`` resets the
pooled connections and refuses new ones, as a database host that dies does:
every request then answers a JSON 503 ``database_unavailable`` with
``Retry-After`` (not a hang, not a 500), and once the proxy is back the same
processes serve again, with every acknowledged write in the database.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
import pytest
import requests
import responses
from sqlalchemy.engine import make_url

from auth.testing import AuthKit, DPoPKey, dpop_headers
from cashman.pg_deadline import PG_ANSWER_TIMEOUT_S
from tests.conftest import POSTGRES_URL
from tests.faults.issuer import FaultyIssuer
from tests.faults.tcp_proxy import CuttableProxy
from tests.support.live import LiveServer
from tests.support.processes import SERVERS

pytestmark = pytest.mark.slow

CLIENT_TIMEOUT = (5, 40)
ALL = ["read:transactions", "write:transactions"]


def _pg_url():
    """``TEST_POSTGRES_URL``; without it (or unreachable) the test is skipped, never run
    on a server nobody named (``CASHMAN_REQUIRE_POSTGRES=1`` stops the session earlier
    without it: ``tests/conftest.py``)."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL only: TEST_POSTGRES_URL is not set")
    url = make_url(POSTGRES_URL)
    try:
        psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            dbname=url.database,
            password=url.password,
            connect_timeout=3,
        ).close()
    except psycopg.OperationalError:
        if os.environ.get("CASHMAN_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip("PostgreSQL is not reachable (set TEST_POSTGRES_URL)")
    return url


@pytest.fixture(scope="module")
def scratch_database():
    """A database of its own, so the proxy test shares no table with other suites."""
    url = _pg_url()
    name = f"cashman_faults_{uuid.uuid4().hex[:8]}"
    admin = dict(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
    )
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name)
    with psycopg.connect(**admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def behind_a_cuttable_proxy(url, log_path, kind="gunicorn", **extra_env):
    """(kit, server, proxy): a production server of ``kind`` with 2 workers, its issuer,
    and the proxy through which it reaches the database at ``url``; ``extra_env`` adds
    settings."""
    kit = AuthKit()
    with (
        FaultyIssuer(kit.jwks()) as issuer,
        CuttableProxy((url.host, url.port or 5432)) as proxy,
    ):
        env = {
            "AUTH0_ISSUER": issuer.issuer,
            "API_AUDIENCE": kit.audience,
            "DATABASE_URL": url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            ),
            "GUNICORN_LOGLEVEL": "warning",
            **extra_env,
        }
        with LiveServer(env, log_path, workers=2, server=kind) as server:
            yield AuthKit(issuer=issuer.issuer), server, proxy


@pytest.fixture(scope="module")
def live(scratch_database, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("db-faults")
    with behind_a_cuttable_proxy(scratch_database, tmp / "gunicorn.log") as (kit, server, proxy):
        yield kit, server, proxy, scratch_database


def _headers(kit):
    return {"Authorization": f"Bearer {kit.mint(sub='db-fault', scopes=ALL)}"}


def _create(server, kit, amount):
    return requests.post(
        f"{server.url}/incomes",
        json={"description": "survives the outage", "amount": amount},
        headers=_headers(kit),
        timeout=CLIENT_TIMEOUT,
    )


def _rows(url) -> int:
    with psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
    ) as conn:
        return conn.execute("SELECT count(*) FROM transactions").fetchone()[0]


def test_database_cut_is_503_then_recovers_without_restart(live):
    kit, server, proxy, url = live
    acknowledged = 0
    for amount in (10.5, 20.25):
        assert _create(server, kit, amount).status_code == 201
        acknowledged += 1
    # both workers: the server answers once one is up, the other may still be booting
    pids = _wait_for_workers(server, 2, ())

    proxy.cut()
    for _ in range(3):  # both workers, pooled connections and new ones
        for method, path in [("get", "/incomes"), ("get", "/balance"), ("post", "/incomes")]:
            body = {"description": "during the outage", "amount": 1} if method == "post" else None
            resp = requests.request(
                method,
                f"{server.url}{path}",
                json=body,
                headers=_headers(kit),
                timeout=CLIENT_TIMEOUT,
            )
            assert resp.status_code == 503, (path, resp.status_code, resp.text)
            assert resp.json()["code"] == "database_unavailable"
            assert int(resp.headers["Retry-After"]) >= 1
    assert requests.get(f"{server.url}/ping", timeout=CLIENT_TIMEOUT).status_code == 200

    proxy.restore()
    for _ in range(40):
        resp = requests.get(f"{server.url}/balance", headers=_headers(kit), timeout=CLIENT_TIMEOUT)
        if resp.status_code == 200:
            break
        time.sleep(0.5)
    assert resp.status_code == 200, server.output()
    assert resp.json()["incomes"] == 30.75
    for _ in range(4):  # both workers: the list's connections were lost too
        page = requests.get(f"{server.url}/incomes", headers=_headers(kit), timeout=CLIENT_TIMEOUT)
        assert page.status_code == 200, page.text
        assert [tx["amount"] for tx in page.json()] == [20.25, 10.5]
    assert _create(server, kit, 1.25).status_code == 201
    acknowledged += 1
    assert _rows(url) == acknowledged  # nothing lost, nothing from the failed writes
    assert server.worker_pids() == pids  # recovered without a restart
    assert proxy.cuts == 1


def test_sqlite_locked_beyond_busy_timeout_is_503(tmp_path):
    from cashman import create_app
    from cashman.config import Settings

    kit = AuthKit()
    db = tmp_path / "cashman.db"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        app = create_app(Settings.from_env({**kit.env(), "DATABASE_URL": f"sqlite:///{db}"}))
        client = app.test_client()
        headers = {"Authorization": f"Bearer {kit.mint(scopes=ALL)}"}
        body = {"description": "locked out", "amount": 5}
        assert client.post("/incomes", json=body, headers=headers).status_code == 201
        holder = sqlite3.connect(db, isolation_level=None, timeout=1)
        try:
            holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
            resp = client.post("/incomes", json=body, headers=headers)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.json["code"] == "database_unavailable"
        assert int(resp.headers["Retry-After"]) >= 1
        assert client.post("/incomes", json=body, headers=headers).status_code == 201


def _wait_for_workers(server, count, without, deadline_s=40.0):
    """The worker pids once there are ``count`` of them, none in ``without`` (bounded)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if len(pids) == count and not set(pids) & set(without):
            return pids
        time.sleep(0.2)
    return server.worker_pids()


@pytest.mark.parametrize("kind", SERVERS)
def test_a_worker_replaced_while_the_database_is_down_starts_and_serves(
    scratch_database, tmp_path, kind
):
    """The schema was migrated once, before the workers started (SPEC §6): a worker that
    replaces a crashed one while the database is out of reach does not try again, so it
    starts, answers ``/ping`` (which never depends on the database), and serves the rest
    once the database is back. Migrating in each worker made it exit, and granian then
    took the whole server down as a crash loop."""
    log_path = tmp_path / "server.log"
    with behind_a_cuttable_proxy(scratch_database, log_path, kind) as (kit, server, proxy):
        victim = _wait_for_workers(server, 2, ())[0]
        proxy.cut()
        os.kill(victim, signal.SIGKILL)
        replaced = _wait_for_workers(server, 2, (victim,))
        time.sleep(2)  # a replacement that was going to fail has failed by now
        alive = _wait_for_workers(server, 2, (victim,))
        pings = [
            requests.get(f"{server.url}/ping", timeout=CLIENT_TIMEOUT).status_code
            for _ in range(10)
        ]
        proxy.restore()
        created = None
        for _ in range(40):
            created = _create(server, kit, 5)
            if created.status_code == 201:
                break
            time.sleep(0.5)
        output = server.output()
    assert victim not in replaced and len(replaced) == 2, output
    assert alive == replaced, output  # the replacement stayed up
    assert set(pings) == {200}
    assert created is not None and created.status_code == 201, output
    assert "cannot bring the database schema up to date" not in output


PUBLIC = "http://localhost:8080"  # the URL DPoP proofs are made for (API_BASE_URL)
# a statement unanswered for PG_ANSWER_TIMEOUT_S fails; a pooled connection's ping and the
# new connection tried after it (connect_timeout) can each take that long
STALL_ANSWER_WITHIN_S = 2 * PG_ANSWER_TIMEOUT_S + 5


@pytest.mark.parametrize("kind", SERVERS)
def test_a_database_that_stops_answering_is_503_within_seconds_then_recovers(
    scratch_database, tmp_path, kind
):
    """A stalled server keeps its connections open and takes statements but never answers
    (a hung host, or a black-holed path behind a kernel that still acknowledges): keepalives
    and connect_timeout do not see it, so a request on a pooled connection waited for ever,
    ``/readyz`` included. Each wait now has a deadline: a 503 within seconds, ``/ping``
    unaffected, the same workers serving again once the database answers, and nothing
    written by the requests refused."""
    key = DPoPKey()
    with behind_a_cuttable_proxy(
        scratch_database, tmp_path / "server.log", kind, API_BASE_URL=PUBLIC
    ) as (kit, server, proxy):
        bearer = _headers(kit)
        token = key.mint_bound(kit, sub="db-fault", scopes=ALL, expires_in=600)

        def call(method, path, scheme="Bearer"):
            headers = bearer
            if scheme == "DPoP":
                headers = dpop_headers(token, key.proof(method.upper(), PUBLIC + path, token))
            body = {"description": "during the stall", "amount": 1} if method == "post" else None
            # a connection of its own each: the kernel spreads them over both workers
            with requests.Session() as session:
                return session.request(
                    method, f"{server.url}{path}", json=body, headers=headers, timeout=(5, 60)
                )

        # pooled connections in both workers: the app's and the replay store's
        for _ in range(6):
            assert call("get", "/incomes").status_code == 200
            assert call("get", "/incomes", "DPoP").status_code == 200
            assert call("get", "/readyz").status_code == 200
        before = _rows(scratch_database)
        pids = _wait_for_workers(server, 2, ())

        calls = [("get", "/incomes", "Bearer"), ("post", "/incomes", "Bearer")] * 2
        calls += [("get", "/readyz", "Bearer"), ("get", "/incomes", "DPoP")] * 2
        proxy.stall()
        try:
            with ThreadPoolExecutor(len(calls)) as pool:
                timed = list(pool.map(lambda c: _timed(call, *c), calls))
            ping = requests.get(f"{server.url}/ping", timeout=CLIENT_TIMEOUT)
        finally:
            proxy.resume()
        recovered = None
        for _ in range(40):
            recovered = call("get", "/incomes")
            if recovered.status_code == 200:
                break
            time.sleep(0.5)
        after_dpop = call("get", "/incomes", "DPoP")
        pids_after = server.worker_pids()
        output = server.output()

    expected = {"/incomes": "database_unavailable", "/readyz": "not_ready"}
    for (_, path, scheme), (resp, elapsed) in zip(calls, timed, strict=True):
        code = "dpop_replay_unavailable" if scheme == "DPoP" else expected[path]
        assert (resp.status_code, resp.json()["code"]) == (503, code), (path, resp.text)
        assert int(resp.headers["Retry-After"]) >= 1
        assert elapsed < STALL_ANSWER_WITHIN_S, (path, scheme, elapsed)
    assert ping.status_code == 200
    assert recovered is not None and recovered.status_code == 200, output
    assert after_dpop.status_code == 200, after_dpop.text
    assert _rows(scratch_database) == before  # the refused POSTs wrote nothing
    assert pids_after == pids, output  # the same workers: none hung, none replaced


def _timed(call, *args):
    started = time.monotonic()
    resp = call(*args)
    return resp, time.monotonic() - started


def test_ping_answers_while_every_app_thread_waits_for_a_stalled_database(
    scratch_database, tmp_path
):
    """SPEC §6: /ping never depends on the database. Requests waiting for a stalled
    database held every app slot of granian's workers, and /ping queued behind them for
    their whole deadline: a liveness probe would have restarted healthy instances."""
    with behind_a_cuttable_proxy(scratch_database, tmp_path / "server.log", "granian") as (
        kit,
        server,
        proxy,
    ):
        headers = _headers(kit)

        def read():
            with requests.Session() as session:  # a connection each: both workers get some
                return session.get(f"{server.url}/incomes", headers=headers, timeout=(5, 60))

        assert read().status_code == 200
        proxy.stall()
        try:
            # more than the app slots of both workers (2 x 4), fewer than their threads
            with ThreadPoolExecutor(16) as pool:
                waiting = [pool.submit(read) for _ in range(16)]
                time.sleep(1.5)  # every slot taken, the rest queued for one
                in_flight = sum(not future.done() for future in waiting)
                ping = requests.get(f"{server.url}/ping", timeout=(2, 3))
                proxy.resume()
                answers = [future.result().status_code for future in waiting]
        finally:
            proxy.resume()
    assert in_flight == 16
    assert ping.status_code == 200
    assert set(answers) <= {200, 503}
