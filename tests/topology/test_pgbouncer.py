"""Cashman through PgBouncer in transaction pooling: no state may outlive a transaction.

With ``pool_mode = transaction`` each transaction of a client may run on a
different PostgreSQL connection, and two clients' transactions may run one
after the other on the same one. Anything left on a server connection by one
transaction (a server-side prepared statement, a session advisory lock, a
``SET``) is then missing for its owner's next transaction, or in another
client's way. These tests run the repository's ``deploy/pgbouncer.ini`` and
drive the app through it the way several workers do.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
import responses
from sqlalchemy import inspect

from auth.testing import AuthKit
from cashman import create_app
from cashman.config import Settings
from cashman.database import build_engine
from cashman.migrate import upgrade
from tests.faults.tcp_proxy import CuttableProxy
from tests.topology.database import Postgres
from tests.topology.pgbouncer import PgBouncer

pytestmark = pytest.mark.slow

ROUNDS = 8  # more than psycopg's default prepare threshold of 5 executions
STARTS = 4
UPGRADE_DEADLINE_S = 30
JTIS = 100


@pytest.fixture
def pgbouncer(scratch_db: Postgres, tmp_path) -> Iterator[PgBouncer]:
    with PgBouncer(tmp_path / "pgbouncer", scratch_db) as bouncer:
        yield bouncer


def test_workers_sharing_server_connections_never_fail(pgbouncer):
    """Two workers' pools take turns on PgBouncer's server connections: every answer is a 2xx.

    psycopg prepares a statement on the server after its fifth run on one connection
    and names it ``_pg3_0``, ``_pg3_1``...; a rollback makes it ``DEALLOCATE ALL``.
    Bursts of one request kind per worker, in turn, hit both ways this breaks: a
    name the other worker already prepared there, and statements deallocated under it.
    """
    kit = AuthKit()
    token = kit.mint(scopes=["read:transactions", "write:transactions"])
    env = {**kit.env(), "DATABASE_URL": pgbouncer.url()}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        workers = [create_app(Settings.from_env(env)) for _ in range(2)]
        try:
            clients = [app.test_client() for app in workers]
            statuses = [
                _request(clients[worker], kind, token, f"{turn}-{n}")
                for turn, (worker, kind) in enumerate(BURSTS)
                for n in range(ROUNDS)
            ]
            balance = _request(clients[0], "balance", token, "final", full=True)
        finally:
            for app in workers:
                app.extensions["cashman.db"].dispose()
    assert [s for s in statuses if s >= 300] == [], pgbouncer.output()
    creates = sum(ROUNDS for _, kind in BURSTS if kind == "create")
    assert balance["incomes"] == creates * 1.25


# (worker, request kind), each sent ROUNDS times in a row
BURSTS = [
    (0, "balance"),
    (1, "balance"),
    (0, "list"),
    (1, "balance"),
    (0, "create"),
    (1, "create"),
    (1, "list"),
    (0, "create"),
]


def _request(client, kind, token, key, full=False):
    headers = {"Authorization": f"Bearer {token}"}
    if kind == "create":
        headers["Idempotency-Key"] = key
        body = {"description": f"burst {key}", "amount": 1.25}
        resp = client.post("/incomes", json=body, headers=headers)
    else:
        resp = client.get("/balance" if kind == "balance" else "/incomes", headers=headers)
    return resp.json if full else resp.status_code


def test_concurrent_starts_through_pgbouncer_migrate_once_and_leave_no_lock(pgbouncer, scratch_db):
    """Instances starting together on an empty database: one migrates, none hangs later."""
    engines = [build_engine(pgbouncer.url()) for _ in range(STARTS)]
    errors: list[BaseException] = []

    def start(engine):
        try:
            upgrade(engine)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=UPGRADE_DEADLINE_S)
        assert not any(thread.is_alive() for thread in threads), "a start hangs on the lock"
        assert errors == []
        assert {"transactions", "idempotency_records"} <= set(inspect(engines[0]).get_table_names())
        # a later start (a restarted instance) must not wait for a lock nobody holds
        later = threading.Thread(target=start, args=(engines[0],), daemon=True)
        later.start()
        later.join(timeout=UPGRADE_DEADLINE_S)
        assert not later.is_alive(), "a later start hangs on a leaked migration lock"
    finally:
        for engine in engines:
            engine.dispose()
    with scratch_db.connect() as conn:
        held = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND d.datname = %s",
            (scratch_db.dbname,),
        ).fetchone()[0]
    assert held == 0, "the migration lock outlived the migration"


def test_a_dpop_jti_is_accepted_once_across_instances_through_pgbouncer(pgbouncer, scratch_db):
    """SPEC section 8: four instances' replay stores race on the same proofs: one wins each."""
    from cashman import dpop_replay as replay

    engines = [build_engine(pgbouncer.url()) for _ in range(STARTS)]
    upgrade(engines[0])
    stores = [replay.DatabaseReplayStore(engine) for engine in engines]
    accepted: list[int] = []
    expires_at = time.time() + 300

    def instance(store):
        for n in range(JTIS):
            if store.record("jkt-of-one-client", f"jti-{n}", expires_at):
                accepted.append(n)

    try:
        threads = [threading.Thread(target=instance, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=UPGRADE_DEADLINE_S)
    finally:
        for store in stores:
            store.dispose()
        for engine in engines:
            engine.dispose()
    assert sorted(accepted) == list(range(JTIS))
    with scratch_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM dpop_replay").fetchone()[0] == JTIS


RECOVERY_DEADLINE_S = 6.0  # PgBouncer's default server_login_retry alone is 15 s


def _query_ignoring_failure(bouncer: PgBouncer) -> None:
    with contextlib.suppress(psycopg.Error):
        bouncer.query()


def test_pgbouncer_reconnects_within_seconds_after_postgresql_returns(scratch_db, tmp_path):
    """A PostgreSQL restart: once it accepts connections again, PgBouncer serves within
    seconds. After a failed server login PgBouncer refuses every client until
    ``server_login_retry`` has passed (15 s by default): behind the load balancer, whose
    checks go through ``/readyz``, the whole API stays down that long."""
    proxy = CuttableProxy((scratch_db.host, scratch_db.port)).start()
    try:
        _restart_behind(proxy, replace(scratch_db, host="127.0.0.1", port=proxy.port), tmp_path)
    finally:
        proxy.cut()


def _restart_behind(proxy: CuttableProxy, behind_proxy: Postgres, tmp_path) -> None:
    """PostgreSQL behind ``proxy`` goes away, then comes back; PgBouncer must follow."""
    with PgBouncer(tmp_path / "pgbouncer", behind_proxy) as bouncer:
        proxy.cut()
        # a client while PostgreSQL is away: its server login is refused at once, and
        # the client waits (query_wait_timeout) while PostgreSQL comes back
        waiting = threading.Thread(target=_query_ignoring_failure, args=(bouncer,))
        waiting.start()
        time.sleep(1.0)
        proxy.start()
        back = time.monotonic()
        while True:
            try:
                bouncer.query()
                break
            except psycopg.Error:  # refused ("try again later") or a login that failed
                assert time.monotonic() - back < RECOVERY_DEADLINE_S, "PgBouncer still refuses"
                time.sleep(0.2)
        waiting.join(timeout=30)
