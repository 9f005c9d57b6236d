"""PostgreSQL answers within a deadline, or the connection is dropped (``cashman.pg_deadline``).

The stalled server itself, through the production servers, is in
``tests/faults/test_database_faults.py``; here the same bound in process, and the one
place that must not have it: a migration, which may wait for another instance's.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError

from auth.replay import ReplayStoreUnavailableError
from cashman.database import build_engine
from cashman.dpop_replay import DatabaseReplayStore
from cashman.migrate import upgrade
from cashman.migration_lock import ADVISORY_LOCK_ID
from cashman.pg_deadline import PG_ANSWER_TIMEOUT_S

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]


def test_a_statement_unanswered_past_the_deadline_fails_and_its_connection_is_dropped(
    database_url,
):
    engine = build_engine(database_url)
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        started = time.monotonic()
        with pytest.raises(OperationalError) as raised, engine.connect() as connection:
            connection.execute(text("SELECT pg_sleep(:s)"), {"s": PG_ANSWER_TIMEOUT_S + 5})
        waited = time.monotonic() - started
        with engine.connect() as connection:
            again = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    finally:
        engine.dispose()
    assert PG_ANSWER_TIMEOUT_S <= waited < PG_ANSWER_TIMEOUT_S + 2
    assert "no answer from the database" in str(raised.value)
    assert raised.value.connection_invalidated
    assert again != first  # the pool made a new connection, not the one left mid-statement


def test_a_migration_waits_for_another_instances_lock_past_the_deadline(database_url):
    engine = build_engine(database_url)  # the app's own: its statements have the deadline
    holder = build_engine(database_url, answer_timeout_s=None)
    held = threading.Event()

    def another_instance_migrating() -> None:
        with holder.connect() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
            held.set()
            time.sleep(PG_ANSWER_TIMEOUT_S + 2)

    thread = threading.Thread(target=another_instance_migrating)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        upgrade(engine)
        waited = time.monotonic() - started
        tables = set(inspect(engine).get_table_names())
    finally:
        thread.join(30)
        engine.dispose()
        holder.dispose()
    assert waited > PG_ANSWER_TIMEOUT_S
    assert {"transactions", "idempotency_records", "dpop_replay"} <= tables


def _waiting_backends(engine, table: str) -> int:
    """Backends other than this one still waiting for a lock on ``table``'s statements."""
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE :q AND pid <> pg_backend_pid()"
            ),
            {"q": f"%{table}%"},
        ).scalar()


@pytest.mark.parametrize("path", ["app", "replay store"])
def test_a_statement_given_up_on_is_cancelled_on_the_server(database_url, path):
    """Closing the connection alone left the statement running: a backend waiting for a
    lock (a migration's, say) kept waiting, and holding a connection slot, after the 503."""
    engine = build_engine(database_url)
    upgrade(engine)
    holder = build_engine(database_url, answer_timeout_s=None)
    observer = build_engine(database_url, answer_timeout_s=None)
    store = DatabaseReplayStore(engine)
    try:
        with holder.connect() as locked:
            locked.execute(text("LOCK TABLE dpop_replay IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            if path == "app":
                with pytest.raises(OperationalError), engine.connect() as connection:
                    connection.execute(text("SELECT count(*) FROM dpop_replay"))
            else:
                with pytest.raises(ReplayStoreUnavailableError):
                    store.record("jkt", "jti", time.time() + 60)
            waited = time.monotonic() - started
            deadline = time.monotonic() + 5
            while _waiting_backends(observer, "dpop_replay") and time.monotonic() < deadline:
                time.sleep(0.1)
            left_waiting = _waiting_backends(observer, "dpop_replay")
            locked.rollback()
    finally:
        store.dispose()
        for each in (engine, holder, observer):
            each.dispose()
    assert PG_ANSWER_TIMEOUT_S <= waited < PG_ANSWER_TIMEOUT_S + 2
    assert left_waiting == 0
