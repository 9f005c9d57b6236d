"""cashman.storage, listing and idempotency: owner scoping, exact money, UTC times, keyset
pages, totals, a key's first request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from cashman import idempotency, listing, storage
from cashman.models import Kind, Transaction
from cashman.paging import Cursor


@pytest.mark.parametrize(
    "amount",
    ["0.01", "0.10", "0.30", "1.99", "123456.78", "999999999.99", "1000000000.00"],
)
@pytest.mark.parametrize("kind", [Kind.INCOME, Kind.EXPENSE])
def test_amount_round_trips_exactly(ctx, db, kind, amount):
    tx = storage.create("alice", kind, "x", Decimal(amount))
    stored = storage.get("alice", kind, tx.id).amount
    expected = Decimal(amount) if kind is Kind.INCOME else -Decimal(amount)
    assert (stored, str(stored)) == (expected, str(expected))


def test_created_at_is_aware_utc_with_microseconds(ctx, db):
    tx = storage.create("alice", Kind.INCOME, "x", Decimal("1"))
    with db.reading() as session:
        stored = session.scalars(select(Transaction.created_at)).one()
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored == tx.created_at
    assert abs(stored - datetime.now(UTC)) < timedelta(minutes=1)


def test_get_update_delete_are_scoped_by_owner(ctx):
    tx = storage.create("alice", Kind.INCOME, "mine", Decimal("5"))
    assert storage.get("bob", Kind.INCOME, tx.id) is None
    assert storage.update("bob", Kind.INCOME, tx.id, description="stolen") is None
    assert storage.delete("bob", Kind.INCOME, tx.id) is False
    assert storage.get("alice", Kind.INCOME, tx.id).description == "mine"


def test_owner_is_compared_exactly(ctx):
    storage.create("alice", Kind.INCOME, "x", Decimal("5"))
    for other in ("Alice", "alice ", "alic", "alice%", "%"):
        assert listing.page(other, None, 10) == ([], None)


def test_ids_of_deleted_rows_are_not_reused(ctx):
    first = storage.create("alice", Kind.INCOME, "x", Decimal("5"))
    storage.delete("alice", Kind.INCOME, first.id)
    second = storage.create("alice", Kind.INCOME, "y", Decimal("5"))
    assert second.id > first.id


def test_pages_walk_every_row_once_newest_first(ctx):
    ids = [storage.create("alice", Kind.EXPENSE, f"e{n}", Decimal(n + 1)).id for n in range(10)]
    storage.create("bob", Kind.EXPENSE, "other", Decimal("1"))
    seen, cursor = [], None
    for _ in range(10):
        rows, cursor = listing.page("alice", Kind.EXPENSE, 3, cursor)
        seen += [row.id for row in rows]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_same_timestamp_rows_are_ordered_by_id(ctx, db):
    instant = datetime(2030, 1, 1, tzinfo=UTC)
    with db.writing() as session:
        session.add_all(
            Transaction(
                owner="alice",
                kind="INCOME",
                description=str(n),
                amount=Decimal(1),
                created_at=instant,
            )
            for n in range(5)
        )
    first, cursor = listing.page("alice", None, 2)
    rest, end = listing.page("alice", None, 10, cursor)
    ids = [row.id for row in first + rest]
    assert ids == sorted(ids, reverse=True) and len(ids) == 5 and end is None


def test_cursor_before_everything_is_an_empty_page(ctx):
    storage.create("alice", Kind.INCOME, "x", Decimal("1"))
    cursor = Cursor(datetime(1970, 1, 1, tzinfo=UTC), 1)
    assert listing.page("alice", None, 10, cursor) == ([], None)


def test_totals_are_per_owner_and_exact(ctx):
    for amount in ("0.10", "0.20"):
        storage.create("alice", Kind.INCOME, "i", Decimal(amount))
    storage.create("alice", Kind.EXPENSE, "e", Decimal("0.05"))
    storage.create("bob", Kind.INCOME, "b", Decimal("100"))
    totals = storage.totals("alice")
    assert (totals.incomes, totals.expenses, totals.balance) == (
        Decimal("0.30"),
        Decimal("-0.05"),
        Decimal("0.25"),
    )
    assert storage.totals("carol").balance == Decimal("0.00")


def test_sign_follows_kind(ctx):
    assert storage.create("a", Kind.EXPENSE, "x", Decimal("3")).amount == Decimal("-3")
    assert storage.create("a", Kind.EXPENSE, "x", Decimal("-3")).amount == Decimal("-3")
    assert storage.create("a", Kind.INCOME, "x", Decimal("3")).amount == Decimal("3")


def test_create_once_replays_the_first_request_and_keeps_one_row(app, db):
    with app.test_request_context("/incomes", method="POST"):
        first = idempotency.create_once("alice", "k", "fp", Kind.INCOME, "x", Decimal("1"))
        again = idempotency.create_once("alice", "k", "fp2", Kind.INCOME, "y", Decimal("2"))
    assert (again.fingerprint, again.response) == (first.fingerprint, first.response)
    # the retry is told it replays an earlier request; the first is not
    assert (first.is_earlier, again.is_earlier) == (False, True)
    assert (first.fingerprint, first.response.status) == ("fp", 201)
    with db.reading() as session:
        [row] = session.scalars(select(Transaction)).all()
    assert first.response.location == f"/incomes/{row.id}"
    assert f'"id":{row.id},"description":"x","amount":1.00' in first.response.body


def test_expired_keys_of_every_owner_are_forgotten_and_live_ones_kept(app, db):
    from cashman.models import IdempotencyRecord

    with app.test_request_context("/incomes", method="POST"):
        for owner, key in [("alice", "old"), ("bob", "old"), ("bob", "new")]:
            idempotency.create_once(owner, key, "fp", Kind.INCOME, "x", Decimal("1"))
    with db.write_connection() as connection:
        later = storage.now() + timedelta(hours=23)
        assert idempotency.forget_expired(connection, later) == 0
        connection.execute(
            IdempotencyRecord.__table__.update()
            .where(IdempotencyRecord.key == "old")
            .values(created_at=storage.now() - timedelta(hours=25))
        )
        assert idempotency.forget_expired(connection, storage.now()) == 2
    with db.reading() as session:
        left = session.execute(select(IdempotencyRecord.owner, IdempotencyRecord.key)).all()
    assert [tuple(r) for r in left] == [("bob", "new")]
