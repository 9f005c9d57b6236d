"""Every query of the API, each scoped by ``owner`` first.

Views never build queries; they call these functions with the caller's
owner, so one user's rows are unreachable from another's request. Each
function is one short database transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Numeric,
    Select,
    String,
    bindparam,
    cast,
    func,
    literal,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy import delete as sql_delete
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cashman import money
from cashman.database import current_database
from cashman.models import BigId, IdempotencyRecord, Kind, Transaction, UTCDateTime
from cashman.paging import Cursor
from cashman.prepared import PreparedQuery

IDEMPOTENCY_TTL = timedelta(hours=24)
ZERO = Decimal("0.00")
# the text SQLite stores for a UTCDateTime, produced by PostgreSQL from a timestamptz
_PG_STAMP = "YYYY-MM-DD HH24:MI:SS.US"

# (body, Location) of the 201 that answers a create; rendered inside its transaction
Renderer = Callable[[Transaction], tuple[str, str | None]]


class Listed(NamedTuple):
    """A transaction as a list reads it: the amount in integer cents and ``created_at``
    as UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` (what SQLite stores; PostgreSQL is asked
    for the same), so that a page goes from the database to JSON without a Decimal or a
    datetime per row."""

    id: int
    description: str
    cents: int
    created_at: str
    kind: str


@dataclass(frozen=True)
class Totals:
    incomes: Decimal
    expenses: Decimal

    @property
    def balance(self) -> Decimal:
        return self.incomes + self.expenses


def now() -> datetime:
    return datetime.now(UTC)


def signed(kind: Kind, amount: Decimal) -> Decimal:
    """Incomes are stored positive and expenses negative, whichever sign was sent."""
    return money.signed(amount, negative=kind is Kind.EXPENSE)


def create(owner: str, kind: Kind, description: str, amount: Decimal) -> Transaction:
    """Insert one transaction for ``owner``."""
    with current_database().writing() as session:
        tx = _new(owner, kind, description, amount)
        session.add(tx)
    return tx


def create_once(
    owner: str,
    key: str,
    fingerprint: str,
    kind: Kind,
    description: str,
    amount: Decimal,
    render: Renderer,
) -> IdempotencyRecord:
    """Insert a transaction unless ``key`` was used by ``owner`` within 24 h.

    Returns the record of the first response for this key: the one just made,
    or the earlier one (whose fingerprint the caller compares). The record is
    inserted in the same transaction as the row, and (owner, key) is unique,
    so concurrent retries leave exactly one row: the losers replay the winner.
    """
    try:
        with current_database().writing() as session:
            _purge_expired(session, owner)
            record = _idempotency_record(session, owner, key)
            if record is not None:
                return record
            tx = _new(owner, kind, description, amount)
            session.add(tx)
            session.flush()
            body, location = render(tx)
            record = IdempotencyRecord(
                owner=owner,
                key=key,
                fingerprint=fingerprint,
                status=201,
                body=body,
                location=location,
                created_at=tx.created_at,
            )
            session.add(record)
        return record
    except IntegrityError:
        # another request with this key committed first: answer as it did
        with current_database().reading() as session:
            record = _idempotency_record(session, owner, key)
        if record is None:
            raise
        return record


def _purge_expired(session: Session, owner: str) -> None:
    """Forget ``owner``'s keys older than 24 h (lazily, on that owner's next keyed POST)."""
    horizon = now() - IDEMPOTENCY_TTL
    session.execute(
        sql_delete(IdempotencyRecord).where(
            IdempotencyRecord.owner == owner, IdempotencyRecord.created_at < horizon
        )
    )


def _idempotency_record(session: Session, owner: str, key: str) -> IdempotencyRecord | None:
    return session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.owner == owner, IdempotencyRecord.key == key
        )
    ).one_or_none()


def _new(owner: str, kind: Kind, description: str, amount: Decimal) -> Transaction:
    return Transaction(
        owner=owner,
        kind=kind.value,
        description=description,
        amount=signed(kind, amount),
        created_at=now(),
    )


def get(owner: str, kind: Kind, tx_id: int) -> Transaction | None:
    """One of ``owner``'s transactions of ``kind``, or None (absent or someone else's)."""
    with current_database().reading() as session:
        return session.scalars(_one(owner, kind, tx_id)).one_or_none()


def page(
    owner: str, kind: Kind | None, limit: int, after: Cursor | None = None
) -> tuple[list[Listed], Cursor | None]:
    """Up to ``limit`` of ``owner``'s transactions, newest first, after ``after``.

    Returns the rows and the cursor of the next page (None on the last page).
    Keyset, never OFFSET: one index range scan whatever the depth. Rows are
    plain column tuples (``Listed``), not ORM objects: a list is only
    read and rendered, and building 51 mapped objects cost more than the query.
    """
    params: dict[str, object] = {"owner": owner, "limit": limit + 1}
    if kind is not None:
        params["kind"] = kind.value
    if after is not None:
        params["after_created_at"], params["after_id"] = after.created_at, after.id
    engine = current_database().engine
    query = _page_query(engine.dialect, kind is not None, after is not None)
    rows = list(map(Listed._make, query.fetch(engine, params)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], Cursor(utc_from_text(last.created_at), last.id)


def utc_from_text(text: str) -> datetime:
    """The aware UTC instant of a ``Listed`` row's ``created_at``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _page_query(dialect: Dialect, by_kind: bool, after: bool) -> PreparedQuery:
    """The page query of this shape, compiled once per kind of database (every engine
    of one dialect and driver compiles it alike)."""
    key = (dialect.name, dialect.driver, by_kind, after)
    query = _PAGE_QUERIES.get(key)
    if query is None:
        query = _PAGE_QUERIES[key] = PreparedQuery(
            _page_statement(dialect.name, by_kind, after), dialect
        )
    return query


_PAGE_QUERIES: dict[tuple[str, str, bool, bool], PreparedQuery] = {}


def _page_statement(dialect: str, by_kind: bool, after: bool) -> Select[Any]:
    """The page query: building it per request cost ~170 us of CPU
    (bench/bench_inprocess.py), more than running it; values are bound at execution."""
    t = Transaction
    stmt = select(t.id, t.description, *_wire_columns(dialect), t.kind)
    stmt = stmt.where(t.owner == bindparam("owner"))
    if by_kind:
        stmt = stmt.where(t.kind == bindparam("kind"))
    if after:
        position = tuple_(
            bindparam("after_created_at", type_=UTCDateTime()), bindparam("after_id", type_=BigId)
        )
        stmt = stmt.where(tuple_(t.created_at, t.id) < position)
    order = (t.created_at.desc(), t.id.desc())
    return stmt.order_by(*order).limit(bindparam("limit"))


def _wire_columns(dialect: str) -> tuple[ColumnElement[int], ColumnElement[str]]:
    """``cents`` and ``created_at`` as the database can hand them over without Python work.

    SQLite already stores integer cents and fixed-width UTC text, so they are read as
    they are; PostgreSQL computes the same two from NUMERIC and timestamptz.
    """
    t = Transaction
    if dialect == "sqlite":
        cents = type_coerce(t.amount, BigInteger())
        stamp = type_coerce(t.created_at, String())
    else:
        cents = cast(type_coerce(t.amount, Numeric(14, 2)) * 100, BigInteger())
        utc = func.timezone(literal("UTC"), t.created_at)
        stamp = func.to_char(utc, literal(_PG_STAMP), type_=String())
    return cents.label("cents"), stamp.label("created_at")


def update(
    owner: str,
    kind: Kind,
    tx_id: int,
    description: str | None = None,
    amount: Decimal | None = None,
) -> Transaction | None:
    """Change description and/or amount of one of ``owner``'s transactions."""
    with current_database().writing() as session:
        tx = session.scalars(_one(owner, kind, tx_id).with_for_update()).one_or_none()
        if tx is None:
            return None
        if description is not None:
            tx.description = description
        if amount is not None:
            tx.amount = signed(kind, amount)
    return tx


def delete(owner: str, kind: Kind, tx_id: int) -> bool:
    """Delete one of ``owner``'s transactions; False if there was none."""
    stmt = sql_delete(Transaction).where(
        Transaction.owner == owner, Transaction.kind == kind.value, Transaction.id == tx_id
    )
    with current_database().writing() as session:
        return session.execute(stmt).rowcount == 1


def totals(owner: str) -> Totals:
    """Sums of ``owner``'s incomes (positive) and expenses (negative)."""
    stmt = (
        select(Transaction.kind, func.sum(Transaction.amount))
        .where(Transaction.owner == owner)
        .group_by(Transaction.kind)
    )
    with current_database().reading() as session:
        sums = {kind: total for kind, total in session.execute(stmt)}
    return Totals(
        incomes=sums.get(Kind.INCOME.value) or ZERO,
        expenses=sums.get(Kind.EXPENSE.value) or ZERO,
    )


def _one(owner: str, kind: Kind, tx_id: int) -> Select[tuple[Transaction]]:
    return select(Transaction).where(
        Transaction.owner == owner, Transaction.kind == kind.value, Transaction.id == tx_id
    )
