"""SQLite durability settings: WAL, synchronous=FULL, a busy timeout, the instance dir."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from cashman.database import SQLITE_BUSY_TIMEOUT_MS, Database, build_engine
from cashman.migrate import upgrade


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
