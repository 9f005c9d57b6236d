"""The list endpoints write their JSON by hand (cashman.listing): the same bytes as
``TransactionOut`` dumped through the exact-Decimal encoder, for every kind of row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from cashman.jsonio import dumps_exact
from cashman.listing import created_at_literal, money_literal
from cashman.models import Transaction
from cashman.schemas import TransactionOut

DESCRIPTIONS = [
    "plain",
    'quote " and backslash \\ and slash /',
    "café, naïve, Ærøskøbing",
    "日本語の説明",
    "emoji 💸🏦 outside the BMP",
    "<script>alert('x')</script> & entities &amp;",
    "x" * 200,
    " leading and trailing spaces stored as given ",
    "tab\there and line\nbreak (refused by the API, escaped alike if stored)",
    "\u2028 line separators \u2029 and zero width \u200b",
]
AMOUNTS = ["0.01", "0.10", "0.99", "1.00", "12.50", "999999999.99", "1000000000.00"]
INSTANTS = [
    datetime(2024, 1, 1, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 6, 1, 12, 0, 0, 1, tzinfo=UTC),
    datetime(2024, 6, 1, 12, 0, 0, 10, tzinfo=timezone(timedelta(hours=-7, minutes=-30))),
    datetime(1970, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
# strftime writes this year as "999": the renderer's per-row path, not its inlined one
BEFORE_1000 = datetime(999, 3, 4, 5, 6, 7, 89, tzinfo=UTC)


@pytest.fixture
def owner(create, rows):
    """The owner key of the ``auth`` user (whose first row the API made)."""
    create("incomes", "first", 1)
    return rows()[0].owner


@pytest.fixture
def seed(app, owner):
    """Insert rows for ``owner`` directly (any timestamp), as the ORM writes them."""

    def insert(rows):
        with app.extensions["cashman.db"].writing() as session:
            session.add_all(
                Transaction(owner=owner, kind=k, description=d, amount=a, created_at=c)
                for k, d, a, c in rows
            )

    return insert


def expected_body(app, owner, kind=None):
    """What ``TransactionOut(many=True)`` dumped through ``dumps_exact`` writes."""
    stmt = select(Transaction).where(Transaction.owner == owner)
    if kind is not None:
        stmt = stmt.where(Transaction.kind == kind)
    stmt = stmt.order_by(Transaction.created_at.desc(), Transaction.id.desc())
    with app.extensions["cashman.db"].reading() as session:
        objects = list(session.scalars(stmt))
    return dumps_exact(TransactionOut(many=True).dump(objects)) + "\n"


def varied_rows(instants=(*INSTANTS, BEFORE_1000)):
    rows = []
    for n, description in enumerate(DESCRIPTIONS * 2):
        amount = Decimal(AMOUNTS[n % len(AMOUNTS)])
        instant = instants[n % len(instants)] - timedelta(microseconds=n)
        kind, signed = ("INCOME", amount) if n % 2 else ("EXPENSE", -amount)
        rows.append((kind, description, signed, instant))
    return rows


@pytest.mark.parametrize("instants", [INSTANTS, (*INSTANTS, BEFORE_1000)], ids=["", "year999"])
@pytest.mark.parametrize(
    ("path", "kind"),
    [("/transactions", None), ("/incomes", "INCOME"), ("/expenses", "EXPENSE")],
)
def test_list_body_is_the_schema_dump_byte_for_byte(
    app, client, auth, owner, seed, path, kind, instants
):
    seed(varied_rows(instants))
    resp = client.get(f"{path}?limit=500", headers=auth)
    assert resp.status_code == 200
    assert resp.content_type == "application/json"
    assert resp.get_data(as_text=True) == expected_body(app, owner, kind)


def test_pages_of_a_walk_are_the_schema_dump_of_their_rows(app, client, auth, owner, seed):
    seed(varied_rows())
    pages, url = [], "/transactions?limit=3"
    for _ in range(20):
        resp = client.get(url, headers=auth)
        pages.append(resp.json)
        if "Link" not in resp.headers:
            break
        url = resp.headers["Link"].split(">", 1)[0].removeprefix("<")
    walked = [item for page in pages for item in page]
    assert walked == client.get("/transactions?limit=500", headers=auth).json
    assert len(walked) == len(varied_rows()) + 1


def test_empty_list_is_an_empty_array(client, auth):
    resp = client.get("/incomes", headers=auth)
    assert (resp.status_code, resp.get_data(as_text=True)) == (200, "[]\n")


@pytest.mark.parametrize(
    ("cents", "literal"),
    [
        (1, "0.01"),
        (-1, "-0.01"),
        (10, "0.10"),
        (99, "0.99"),
        (100, "1.00"),
        (-1250, "-12.50"),
        (100_000_000_000, "1000000000.00"),
        (-100_000_000_000, "-1000000000.00"),
        (0, "0.00"),
    ],
)
def test_money_literal_has_two_decimals(cents, literal):
    assert money_literal(cents) == literal


@given(st.integers(min_value=-100_000_000_000, max_value=100_000_000_000))
def test_money_literal_is_the_decimal_literal(cents):
    amount = Decimal(cents).scaleb(-2).quantize(Decimal("0.01"))
    assert money_literal(cents) == f"{amount:f}"


@pytest.mark.parametrize(
    ("stamp", "literal"),
    [
        ("2024-06-01 12:00:00.000001", '"2024-06-01T12:00:00.000001Z"'),
        ("2024-06-01 12:00:00.000000", '"2024-06-01T12:00:00.000000Z"'),
        ("2024-06-01 12:00:00", '"2024-06-01T12:00:00.000000Z"'),
        ("2024-06-01T12:00:00.5", '"2024-06-01T12:00:00.500000Z"'),
        ("0999-03-04 05:06:07.000089", '"999-03-04T05:06:07.000089Z"'),
    ],
)
def test_created_at_literal_is_what_strftime_writes(stamp, literal):
    assert created_at_literal(stamp) == literal


@pytest.mark.parametrize(
    ("kind", "amount", "literal"),
    [
        ("INCOME", "0.01", "0.01"),
        ("INCOME", "0.10", "0.10"),
        ("INCOME", "7", "7.00"),
        ("INCOME", "999999999.99", "999999999.99"),
        ("INCOME", "1000000000.00", "1000000000.00"),
        ("EXPENSE", "-0.01", "-0.01"),
        ("EXPENSE", "-12.5", "-12.50"),
        ("EXPENSE", "-1000000000", "-1000000000.00"),
    ],
)
def test_listed_amount_is_the_two_decimal_literal(client, auth, owner, seed, kind, amount, literal):
    seed([(kind, "x", Decimal(amount), datetime(2030, 1, 1, tzinfo=UTC))])
    text = client.get("/transactions?limit=1", headers=auth).get_data(as_text=True)
    assert f'"amount":{literal},' in text


@pytest.mark.parametrize(
    ("instant", "literal"),
    [
        (datetime(2030, 6, 1, 12, 0, 0, 1, tzinfo=UTC), "2030-06-01T12:00:00.000001Z"),
        (datetime(2030, 6, 1, 12, 0, tzinfo=UTC), "2030-06-01T12:00:00.000000Z"),
        (
            datetime(2030, 6, 1, 23, 30, tzinfo=timezone(timedelta(hours=-1))),
            "2030-06-02T00:30:00.000000Z",
        ),
        (BEFORE_1000, "999-03-04T05:06:07.000089Z"),
    ],
)
def test_listed_created_at_is_what_strftime_writes(client, auth, owner, seed, instant, literal):
    seed([("INCOME", "x", Decimal("1"), instant)])
    created = [item["created_at"] for item in client.get("/incomes", headers=auth).json]
    assert len(created) == 2 and literal in created
