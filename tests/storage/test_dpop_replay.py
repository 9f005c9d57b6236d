"""The DPoP replay store in the database: shared by instances, expiring, failing closed.

Runs on SQLite and, with ``TEST_POSTGRES_URL``, on PostgreSQL (the ``postgres_only`` tests
on PostgreSQL alone). Two ``Database`` objects on
one database stand for two instances (each with its own engine and pool). The clean-up:
``test_dpop_replay_cleanup.py``.
"""

from __future__ import annotations

import sqlite3
import threading

import psycopg
import pytest
from sqlalchemy import create_engine, text

from auth.replay import ReplayStore, ReplayStoreUnavailableError
from cashman.database import Database
from cashman.dpop_replay import DatabaseReplayStore, jti_digest
from cashman.migrate import upgrade
from tests.support.replay_store import JKT, NOW, OTHER_JKT, rows


def test_database_store_is_a_replay_store(store):
    replay_store: ReplayStore = store
    assert replay_store.record(JKT, "jti-1", NOW + 60) is True


def test_second_record_is_a_replay(store):
    assert store.record(JKT, "jti-1", NOW + 60) is True
    assert store.record(JKT, "jti-1", NOW + 60) is False


def test_replay_to_another_instance_is_refused(instances, make_store):
    first = make_store(instances[0].engine)
    second = make_store(instances[1].engine)
    assert first.record(JKT, "jti-1", NOW + 60) is True
    assert second.record(JKT, "jti-1", NOW + 60) is False


def test_same_jti_of_another_key_is_recorded(store):
    assert store.record(JKT, "jti-1", NOW + 60) is True
    assert store.record(OTHER_JKT, "jti-1", NOW + 60) is True


def test_one_row_per_proof_with_the_jti_digest_and_whole_second_expiry(store, instances):
    store.record(JKT, "jti-1", NOW + 60.2)
    assert rows(instances[0]) == [(JKT, jti_digest("jti-1"), int(NOW) + 61)]


@pytest.mark.parametrize("jti", ["x" * 256, "nul\x00inside", "lone \ud800 surrogate", "é€😀"])
def test_any_jti_string_is_stored(store, jti):
    assert store.record(JKT, jti, NOW + 60) is True
    assert store.record(JKT, jti, NOW + 60) is False


def test_distinct_jtis_have_distinct_digests():
    assert len({jti_digest(j) for j in ["a", "a\x00", "\ud800", "\udc00", "A"]}) == 5


def test_record_is_held_until_its_expiry(store, clock):
    store.record(JKT, "jti-1", NOW + 60)
    clock.now = NOW + 60
    assert store.record(JKT, "jti-1", NOW + 120) is False


def test_expired_record_may_be_recorded_again(store, clock):
    store.record(JKT, "jti-1", NOW + 60)
    clock.now = NOW + 61
    assert store.record(JKT, "jti-1", NOW + 121) is True
    assert store.record(JKT, "jti-1", NOW + 121) is False


def test_concurrent_records_across_instances_accept_exactly_one(instances, make_store):
    stores = [make_store(db.engine) for db in instances]
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def record(index: int) -> None:
        barrier.wait(timeout=30)
        results.append(stores[index % 2].record(JKT, "raced", NOW + 60))

    threads = [threading.Thread(target=record, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [False] * 7 + [True]


def test_missing_table_is_unavailable(database_url, caplog, make_store):
    db = Database(database_url)  # not migrated
    try:
        with pytest.raises(ReplayStoreUnavailableError) as caught:
            make_store(db.engine).record(JKT, "jti-1", NOW + 60)
    finally:
        db.dispose()
    assert caught.value.retry_after > 0
    assert "jti-1" not in caplog.text and JKT not in caplog.text


def test_unreachable_postgresql_is_unavailable(make_store):
    engine = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    try:
        with pytest.raises(ReplayStoreUnavailableError):
            make_store(engine).record(JKT, "jti-1", NOW + 60)
    finally:
        engine.dispose()


def test_unopenable_sqlite_file_is_unavailable(tmp_path, make_store):
    engine = create_engine(f"sqlite:///{tmp_path}")  # a directory, not a database file
    try:
        with pytest.raises(ReplayStoreUnavailableError):
            make_store(engine).record(JKT, "jti-1", NOW + 60)
    finally:
        engine.dispose()


def test_store_works_again_once_the_table_exists(database_url, make_store):
    db = Database(database_url)
    try:
        store = make_store(db.engine)
        with pytest.raises(ReplayStoreUnavailableError):
            store.record(JKT, "jti-1", NOW + 60)
        upgrade(db.engine)
        assert store.record(JKT, "jti-1", NOW + 60) is True
    finally:
        db.dispose()


def test_app_connections_are_handed_back_unchanged(store, instances, database_backend):
    store.record(JKT, "jti-1", NOW + 60)
    with instances[0].engine.connect() as connection:
        if database_backend == "sqlite":
            assert not connection.connection.dbapi_connection.in_transaction
            # the app's own writes stay synchronous=FULL (SPEC §5)
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2
        else:
            assert connection.connection.dbapi_connection.autocommit is False
            assert connection.execute(text("SHOW synchronous_commit")).scalar() == "on"


def store_connection(store: DatabaseReplayStore):
    """The driver connection the store's last write used (kept open for the next one)."""
    return store.connections.idle[-1]


def test_write_connection_is_reused_and_set_up_for_the_one_statement(store, database_backend):
    store.record(JKT, "jti-1", NOW + 60)
    connection = store_connection(store)
    store.record(JKT, "jti-2", NOW + 60)
    assert list(store.connections.idle) == [connection]  # no new connection per write
    if database_backend == "sqlite":
        # commits that survive a killed process without an fsync each (WAL)
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == 1
    else:
        assert connection.autocommit is True


@pytest.mark.postgres_only  # PgBouncer's transaction pooling is a PostgreSQL deployment
def test_no_server_side_prepared_statements(store):
    for i in range(12):  # psycopg would prepare after 5 executions
        store.record(JKT, f"jti-{i}", NOW + 60)
    connection = store_connection(store)
    count = connection.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
    assert count == 0
    # nothing of the write outlives its transaction (PgBouncer transaction pooling)
    assert connection.execute("SHOW synchronous_commit").fetchone()[0] == "on"


@pytest.mark.postgres_only  # a server that drops an idle connection
def test_connection_dropped_by_the_server_is_replaced_without_a_503(store, instances):
    store.record(JKT, "before", NOW + 60)
    pid = store_connection(store).info.backend_pid
    with instances[0].engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.commit()
    assert store.record(JKT, "after", NOW + 60) is True
    assert store.record(JKT, "after", NOW + 60) is False
    assert store_connection(store).info.backend_pid != pid


def test_dispose_closes_the_write_connections(store):
    store.record(JKT, "jti-1", NOW + 60)
    connection = store_connection(store)
    store.dispose()
    assert not store.connections.idle
    with pytest.raises((sqlite3.ProgrammingError, psycopg.OperationalError), match="closed"):
        connection.execute("SELECT 1")
