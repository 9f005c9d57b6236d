"""The queries of single transactions and totals, each scoped by ``owner`` first (SPEC §4, §5).

Views never build queries; they call these functions with the caller's
owner, so one user's rows are unreachable from another's request. Each
function is one short database transaction. Pages of a list are read by
``cashman.listing``, a create under an ``Idempotency-Key`` by ``cashman.idempotency``.

A create is the API's one hot write: a single ``INSERT ... RETURNING id``, compiled
once per dialect and run on the driver's cursor (``Database.write_cursor``), without
the ORM's unit of work (flush, identity map, state tracking: more than half of a
POST's CPU) or SQLAlchemy's execution layer; the 201 is answered from what was sent.
On PostgreSQL that statement is ``INSERT ... SELECT ... FROM pg_advisory_xact_lock``,
returning ``id`` and ``created_at``: it waits for its owner's turn and takes the
database's clock, so newest first is commit order (``_PG_INSERT``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, insert, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.engine import Dialect

from cashman import money
from cashman.database import current_database
from cashman.models import Kind, Transaction
from cashman.prepared import PreparedQuery

ZERO = Decimal("0.00")
_TABLE = Transaction.__table__
_COLUMNS = ("owner", "kind", "description", "amount", "created_at")
_INSERT = (
    insert(_TABLE)
    .values({name: bindparam(name, type_=_TABLE.c[name].type) for name in _COLUMNS})
    .returning(_TABLE.c.id)
)
# PostgreSQL: the insert waits for its owner's turn (a lock held to the commit: transaction
# level, as PgBouncer's transaction pooling needs) and is stamped by the database's clock
# once the turn came, in the same statement: newest first is then commit order for every
# owner, whatever the instances' clocks. SQLite's writers take turns already
# (``Database.writer_lock``), and ``now()`` is read inside the write transaction.
_OWNER_TURN = func.pg_advisory_xact_lock(func.hashtextextended(bindparam("owner"), 0))
_PG_INSERT = (
    insert(_TABLE)
    .from_select(
        _COLUMNS,
        select(
            *(bindparam(name, type_=_TABLE.c[name].type) for name in _COLUMNS[:-1]),
            func.clock_timestamp(),
        ).select_from(_OWNER_TURN),
    )
    .returning(_TABLE.c.id, _TABLE.c.created_at)
)
_PREPARED: dict[str, PreparedQuery] = {}


@dataclass(frozen=True, slots=True)
class Created:
    """A transaction just inserted, as its 201 shows it: ``amount`` signed, two
    places; ``kind`` the stored text (``INCOME``); ``created_at`` aware UTC."""

    id: int
    kind: str
    description: str
    amount: Decimal
    created_at: datetime


@dataclass(frozen=True)
class Totals:
    """An owner's sums: incomes (>= 0) and expenses (<= 0), exact, two places."""

    incomes: Decimal
    expenses: Decimal

    @property
    def balance(self) -> Decimal:
        """Incomes plus expenses."""
        return self.incomes + self.expenses


def now() -> datetime:
    """The aware UTC instant a new row is created at."""
    return datetime.now(UTC)


def signed(kind: Kind, amount: Decimal) -> Decimal:
    """Incomes are stored positive and expenses negative, whichever sign was sent."""
    return money.signed(amount, negative=kind is Kind.EXPENSE)


def new_transaction(owner: str, kind: Kind, description: str, amount: Decimal) -> Transaction:
    """A new row for ``owner`` (not yet in a session): signed by ``kind``, created now."""
    return Transaction(
        owner=owner,
        kind=kind.value,
        description=description,
        amount=signed(kind, amount),
        created_at=now(),
    )


def create(owner: str, kind: Kind, description: str, amount: Decimal) -> Created:
    """Insert one transaction for ``owner``, in a transaction of its own."""
    database = current_database()
    insert_sql = _prepared(database.engine.dialect)
    with database.write_cursor() as cursor:
        # created inside the write transaction, in the owner's turn (see _PG_INSERT): a
        # row is never listed below one a client already saw (SPEC §4, §8)
        row = _row(owner, kind, description, amount)
        cursor.execute(insert_sql.sql, insert_sql.parameters(row))
        tx_id, *stamped = cursor.fetchone()
    created_at = stamped[0].astimezone(UTC) if stamped else row["created_at"]
    return Created(tx_id, row["kind"], description, row["amount"], created_at)


def insert_transaction(
    connection: Connection, owner: str, kind: Kind, description: str, amount: Decimal
) -> Created:
    """Insert one transaction for ``owner`` in ``connection``'s transaction (one statement;
    on PostgreSQL it takes the owner's turn, held until the commit: ``_PG_INSERT``)."""
    row = _row(owner, kind, description, amount)
    if connection.dialect.name == "sqlite":
        tx_id = connection.execute(_INSERT, row).scalar_one()
        created_at = row["created_at"]
    else:
        tx_id, created_at = connection.execute(_PG_INSERT, row).one()
    return Created(tx_id, row["kind"], description, row["amount"], created_at)


def _row(owner: str, kind: Kind, description: str, amount: Decimal) -> dict[str, Any]:
    return {
        "owner": owner,
        "kind": kind.value,
        "description": description,
        "amount": signed(kind, amount),
        "created_at": now(),  # SQLite's; PostgreSQL's comes from its clock (_PG_INSERT)
    }


def _prepared(dialect: Dialect) -> PreparedQuery:
    prepared = _PREPARED.get(dialect.name)
    if prepared is None:
        statement = _INSERT if dialect.name == "sqlite" else _PG_INSERT
        prepared = _PREPARED[dialect.name] = PreparedQuery(statement, dialect)
    return prepared


def get(owner: str, kind: Kind, tx_id: int) -> Transaction | None:
    """One of ``owner``'s transactions of ``kind``, or None (absent or someone else's)."""
    with current_database().reading() as session:
        return session.scalars(_one(owner, kind, tx_id)).one_or_none()


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
