"""Database engine and the two tables: transactions and idempotency records.

Money and time are the two things a database likes to round. ``Money`` is
``NUMERIC(14, 2)`` on PostgreSQL and integer cents on SQLite (whose NUMERIC
is a float), converted in this one place; ``UTCDateTime`` is ``timestamptz``
on PostgreSQL and a fixed-width UTC string on SQLite, and is always an aware
UTC ``datetime`` in Python. Ids are integers that are never reused.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Engine,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from cashman.money import from_cents, to_cent, to_cents

SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5


class Kind(enum.StrEnum):
    INCOME = "INCOME"
    EXPENSE = "EXPENSE"


class Money(TypeDecorator[Decimal]):
    """Exact amount: NUMERIC(14, 2), or integer cents on SQLite."""

    impl = Numeric(14, 2, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(14, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return to_cents(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_cents(int(value))
        return to_cent(Decimal(value))


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetime with microseconds on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(UTC)
        # SQLite stores a fixed-width text that sorts like the instant it names
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the rowid
BigId = BigInteger().with_variant(Integer(), "sqlite")
# the largest id either column type holds: no id in a URL or a cursor can be larger
MAX_ID = 2**63 - 1


class Base(DeclarativeBase):
    pass


class Transaction(Base):
    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'INCOME' AND amount > 0) OR (kind = 'EXPENSE' AND amount < 0)",
            name="ck_transactions_kind_sign",
        ),
        # never reuse the id of a deleted row: replayed responses and Locations name ids
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(Text)
    kind: Mapped[Kind] = mapped_column(String(7))
    description: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# newest-first pages of one owner, all kinds or one kind (SPEC §5)
Index(
    "ix_transactions_owner_created",
    Transaction.owner,
    Transaction.created_at.desc(),
    Transaction.id.desc(),
)
Index(
    "ix_transactions_owner_kind_created",
    Transaction.owner,
    Transaction.kind,
    Transaction.created_at.desc(),
    Transaction.id.desc(),
)


class IdempotencyRecord(Base):
    """The first response to a POST with an ``Idempotency-Key``, replayed on retries."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("owner", "key", name="uq_idempotency_owner_key"),
        Index("ix_idempotency_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Database:
    """One engine per app; short sessions, each one transaction.

    SQLite runs in WAL mode with ``synchronous=FULL`` (a 2xx survives a
    SIGKILL) and ``busy_timeout``; writes open with ``BEGIN IMMEDIATE`` so two
    workers never both read and then fail to upgrade to a write lock.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = build_engine(url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(cashman_write=True), expire_on_commit=False
        )

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads (a deferred transaction: readers never wait for writers)."""
        with self._read() as session, session.begin():
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session whose transaction commits at the end unless it raises."""
        with self._write() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def build_engine(url: str) -> Engine:
    """Engine for ``url`` with the pragmas or timeouts its backend needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        ensure_sqlite_directory(url)
        engine = create_engine(url, pool_pre_ping=True)
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        # a database that is down answers 503 in seconds, not a hung worker
        connect_args = {
            "connect_timeout": PG_CONNECT_TIMEOUT_S,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
    return create_engine(url, pool_pre_ping=True, pool_timeout=10, connect_args=connect_args)


def ensure_sqlite_directory(url: str) -> None:
    """Create the directory of a SQLite file (the default lives under ``instance/``)."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy's "begin" event below choose how each transaction opens
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        is_write = connection.get_execution_options().get("cashman_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if is_write else "BEGIN")
