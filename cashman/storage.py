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

from sqlalchemy import Select, func, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cashman import money
from cashman.database import current_database
from cashman.models import IdempotencyRecord, Kind, Transaction

IDEMPOTENCY_TTL = timedelta(hours=24)
ZERO = Decimal("0.00")

# (body, Location) of the 201 that answers a create; rendered inside its transaction
Renderer = Callable[[Transaction], tuple[str, str | None]]


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
