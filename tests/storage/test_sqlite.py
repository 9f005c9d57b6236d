"""SQLite durability settings (WAL, synchronous=FULL, a busy timeout, the instance dir) and
the order writers take turns in."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from cashman import create_app
from cashman.config import Settings
from cashman.database import SQLITE_BUSY_TIMEOUT_MS, Database, build_engine
from cashman.migrate import upgrade
from cashman.models import Kind, Transaction
from cashman.storage import new_transaction


@pytest.fixture
def sqlite_db(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'cashman.db'}")
    upgrade(db.engine)
    yield db
    db.dispose()


@pytest.mark.parametrize(
    ("pragma", "value"),
    [
        ("journal_mode", "wal"),
        ("synchronous", 2),
        ("busy_timeout", SQLITE_BUSY_TIMEOUT_MS),
    ],
)
def test_every_connection_is_durable(sqlite_db, pragma, value):
    with sqlite_db.engine.connect() as connection:
        assert connection.execute(text(f"PRAGMA {pragma}")).scalar() == value


def test_missing_directory_is_created(tmp_path):
    path = tmp_path / "instance" / "deeper" / "cashman.db"
    engine = build_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert path.exists()
    finally:
        engine.dispose()


def test_newest_first_is_commit_order_when_a_create_waits_for_its_turn(tmp_path, kit, jwks):
    """A create that waits for the writer lock takes its ``created_at`` once it has the
    turn: a row written meanwhile by another writer (another worker, here this test
    holding the lock) is listed below it, never above a row committed after it."""
    url = f"sqlite:///{tmp_path / 'cashman.db'}"
    app = create_app(Settings.from_env({**kit.env(), "DATABASE_URL": url}))
    client = app.test_client()
    headers = {
        "Authorization": f"Bearer {kit.mint(scopes=['read:transactions', 'write:transactions'])}"
    }
    database = app.extensions["cashman.db"]
    other_writer = create_engine(url)  # another process's connection, same file
    answers = []
    try:
        client.post("/incomes", json={"description": "first", "amount": 1}, headers=headers)
        with Session(other_writer) as session:
            owner = session.scalars(select(Transaction.owner)).one()
        with database.writer_lock.hold():
            waiting = threading.Thread(
                target=lambda: answers.append(
                    client.post(
                        "/incomes", json={"description": "waited", "amount": 1}, headers=headers
                    )
                )
            )
            waiting.start()
            time.sleep(0.2)  # the create is now waiting for its turn
            with Session(other_writer) as session, session.begin():
                session.add(new_transaction(owner, Kind.INCOME, "meanwhile", Decimal(2)))
        waiting.join(timeout=30)
        listed = client.get("/incomes", headers=headers).json
    finally:
        other_writer.dispose()
        database.dispose()
    assert answers[0].status_code == 201
    # "waited" committed last: newest first lists it first
    assert [tx["description"] for tx in listed] == ["waited", "meanwhile", "first"]
