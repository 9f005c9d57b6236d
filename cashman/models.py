"""The tables and their column types (SPEC §5; the DPoP replay records: §3a step 5).

Transactions, idempotency records and DPoP replay records. Money and time are
the two things a database likes to round. ``Money`` is ``NUMERIC(14, 2)`` on
PostgreSQL and integer cents on SQLite (whose NUMERIC is a float), converted in
this one place; ``UTCDateTime`` is ``timestamptz`` on PostgreSQL and a
fixed-width UTC string on SQLite, and is always an aware UTC ``datetime`` in
Python. Ids are integers that are never reused.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cashman.money import from_cents, to_cent, to_cents


class Kind(enum.StrEnum):
    """The type of a transaction, as stored and returned (``type``)."""

    INCOME = "INCOME"
    EXPENSE = "EXPENSE"


class Money(TypeDecorator[Decimal]):
    """Exact amount: NUMERIC(14, 2), or integer cents on SQLite."""

    impl = Numeric(14, 2, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        """BIGINT cents on SQLite, NUMERIC(14, 2) elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(14, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        """An amount with at most two places, as the column stores it."""
        if value is None:
            return None
        if dialect.name == "sqlite":
            return to_cents(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """The stored amount as a ``Decimal`` with two places."""
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
        """An aware datetime, in UTC (naive UTC text on SQLite)."""
        if value is None:
            return None
        value = value.astimezone(UTC)
        # SQLite stores a fixed-width text that sorts like the instant it names
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The stored instant as an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the rowid
BigId = BigInteger().with_variant(Integer(), "sqlite")
# the largest id either column type holds: no id in a URL or a cursor can be larger
MAX_ID = 2**63 - 1


class Base(DeclarativeBase):
    """The metadata of the tables; Alembic's migrations are compared with it."""


class Transaction(Base):
    """One income (amount > 0) or expense (amount < 0) of one owner; ids never reused."""

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


class DPoPReplayRecord(Base):
    """A DPoP proof already accepted, until its window ends (SPEC §3a step 5).

    The key is the client key's thumbprint and the SHA-256 of the proof's ``jti``: the
    ``jti`` is any string a client chose (up to 256 characters, NUL and lone surrogates
    included), its digest a fixed 43 ASCII characters every database stores as they are.
    ``expires_at`` is in whole Unix seconds; a clean-up removes rows past it, walking the
    primary key (``cashman.dpop_replay_cleanup``). No index on ``expires_at``: every
    accepted proof is an insert, and a second b-tree would double what it writes.
    """

    __tablename__ = "dpop_replay"
    # SQLite: the primary key is the table, no separate rowid b-tree to write
    __table_args__ = {"sqlite_with_rowid": False}

    jkt: Mapped[str] = mapped_column(String(43), primary_key=True)
    jti_sha256: Mapped[str] = mapped_column(String(43), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)
