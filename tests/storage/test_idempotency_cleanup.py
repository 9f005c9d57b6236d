"""Expired ``Idempotency-Key`` records are deleted faster than keys are written (SPEC §4
Retries: a key lives 24 h; nothing says the table may grow for ever).

Before, a process deleted one batch of 1 000 expired keys every 5 minutes, about 3 a
second: any steady rate of keyed creates above that piled up expired rows without end.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select, text

from cashman import idempotency, storage
from cashman.models import IdempotencyRecord, Kind, Transaction

_TABLE = IdempotencyRecord.__table__
EXPIRED = 4_500  # several batches


def expired_rows(count: int, owner: str = "old-owner") -> list[dict]:
    created = storage.now() - timedelta(hours=25)
    return [
        {
            "owner": owner,
            "key": f"k{i}",
            "fingerprint": "f",
            "status": 201,
            "body": "{}",
            "location": None,
            "created_at": created,
        }
        for i in range(count)
    ]


def count_expired(db) -> int:
    horizon = storage.now() - idempotency.TTL
    with db.engine.connect() as connection:
        query = select(func.count()).select_from(_TABLE).where(_TABLE.c.created_at < horizon)
        return connection.execute(query).scalar_one()


def test_a_backlog_of_expired_keys_is_deleted_within_seconds(app, db):
    with db.write_connection() as connection:
        connection.execute(insert(_TABLE), expired_rows(EXPIRED))
    left = []
    with app.test_request_context("/incomes", method="POST"):
        for i in range(10):  # bounded: 10 keyed creates, a catch-up interval apart
            idempotency.create_once("alice", f"new-{i}", "fp", Kind.INCOME, "x", Decimal("1"))
            left.append(count_expired(db))
            if left[-1] == 0:
                break
            time.sleep(idempotency.CATCH_UP_INTERVAL_S)
    assert left[-1] == 0, f"expired rows left after each create: {left}"
    with db.engine.connect() as connection:  # the live keys stay
        live = connection.execute(select(_TABLE.c.key).where(_TABLE.c.owner == "alice")).all()
    assert len(live) == len(left)


@pytest.mark.postgres_only  # row locks: SQLite's writers take turns on the whole file
def test_processes_cleaning_at_once_skip_each_others_rows(app, db):
    with db.write_connection() as connection:
        connection.execute(insert(_TABLE), expired_rows(50))
    other = db.engine.connect()
    try:
        # another process's batch, in progress: it holds its rows
        locked = other.execute(
            select(_TABLE.c.id).order_by(_TABLE.c.id).limit(20).with_for_update()
        ).all()
        with db.write_connection() as connection:
            connection.execute(text("SET LOCAL lock_timeout = '2s'"))
            deleted = idempotency.forget_expired(connection, storage.now())
    finally:
        other.rollback()
        other.close()
    assert (len(locked), deleted) == (20, 30)
    assert count_expired(db) == 20


def test_a_failing_clean_up_is_logged_and_the_create_goes_ahead(app, db, caplog):
    with db.write_connection() as connection:
        connection.execute(insert(_TABLE), expired_rows(10))
        for statement in REFUSE_DELETES[db.engine.dialect.name]:
            connection.execute(text(statement))
    with app.test_request_context("/incomes", method="POST"):
        first = idempotency.create_once("alice", "k", "fp", Kind.INCOME, "x", Decimal("1"))
    assert first.response.status == 201
    assert count_expired(db) == 10
    assert "idempotency clean-up failed" in caplog.text
    with db.engine.connect() as connection:
        rows = connection.execute(select(Transaction.description)).scalars().all()
    assert rows == ["x"]


# a database that refuses the clean-up's DELETE, and only that
REFUSE_DELETES = {
    "sqlite": [
        "CREATE TRIGGER refuse_delete BEFORE DELETE ON idempotency_records "
        "BEGIN SELECT RAISE(ABORT, 'deletes refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'deletes refused'; END $$",
        "CREATE TRIGGER refuse_delete BEFORE DELETE ON idempotency_records "
        "FOR EACH ROW EXECUTE FUNCTION refuse_delete()",
    ],
}
