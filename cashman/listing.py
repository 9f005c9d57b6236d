"""A page of a list, from the database to JSON text: the hot path of the list endpoints.

``GET /incomes``, ``/expenses`` and ``/transactions`` (SPEC §4, Lists) only read and
render, so they skip the ORM, the marshmallow dump and the ``Decimal`` and
``datetime`` per row that the other endpoints go through (together three quarters
of a list request's CPU). The page query returns column tuples: the amount in
integer cents and ``created_at`` as UTC text, which is what SQLite stores and what
PostgreSQL is asked for; they are written straight into the bytes that
``TransactionOut`` dumped through ``jsonio.dumps_exact`` gives (tests/api/test_listing.py
compares the two over varied rows, on SQLite and PostgreSQL). ``TransactionOut``
stays the documentation of a list: a change to it must be made here too.

Pages are keyset, never OFFSET (``cashman.paging``): one index range scan whatever
the depth.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from flask import Response
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

from cashman.database import current_database
from cashman.jsonio import quote_string
from cashman.models import BigId, Kind, Transaction, UTCDateTime
from cashman.paging import Cursor
from cashman.schemas import CREATED_AT_FORMAT

# the text SQLite stores for a UTCDateTime, produced by PostgreSQL from a timestamptz
_PG_STAMP = "YYYY-MM-DD HH24:MI:SS.US"
# "YYYY-MM-DD HH:MM:SS.ffffff", the width of a Listed row's created_at
_STAMP_WIDTH = 26
_KIND_JSON = {kind.value: quote_string(kind.value) for kind in Kind}
_CENTS = [f".{cents:02d}" for cents in range(100)]


class Listed(NamedTuple):
    """A transaction as a list reads it: the amount in integer cents and ``created_at``
    as UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``. (``page`` hands over SQLAlchemy's rows,
    which have the same fields by position and by name.)"""

    id: int
    description: str
    cents: int
    created_at: str
    kind: str


def page(
    owner: str, kind: Kind | None, limit: int, after: Cursor | None = None
) -> tuple[list[Listed], Cursor | None]:
    """Up to ``limit`` of ``owner``'s transactions of ``kind`` (None: both), newest
    first, after ``after``; and the cursor of the next page (None on the last page)."""
    params: dict[str, object] = {"owner": owner, "limit": limit + 1}
    if kind is not None:
        params["kind"] = kind.value
    if after is not None:
        params["after_created_at"], params["after_id"] = after.created_at, after.id
    engine = current_database().engine
    statement = _page_statement(engine.dialect.name, kind is not None, after is not None)
    # one SELECT, consistent on its own: no session, no ORM objects; all() fetches the
    # rows in one driver call (iterating the result would fetch them one by one). Its
    # rows are named tuples already: a Listed copy of each cost more than rendering it
    with engine.connect() as connection:
        rows: list[Any] = connection.execute(statement, params).all()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], Cursor(utc_from_text(last.created_at), last.id)


def page_response(rows: Sequence[Listed]) -> Response:
    """A 200 with the page as JSON, as ``jsonify`` would build it (newline included)."""
    return Response(f"{render_page(rows)}\n".encode(), content_type="application/json")


def render_page(rows: Sequence[Listed]) -> str:
    """The JSON array of ``rows``, compact and ASCII, as ``TransactionOut`` dumps it."""
    quote, kinds = quote_string, _KIND_JSON
    # _is_canonical, inlined: a call per row was a tenth of the rendering
    width = _STAMP_WIDTH
    stamps = [row[3] for row in rows]
    if not all(len(s) == width and s[10] == " " and s[0] != "0" for s in stamps):
        items = [
            f'{{"id":{row_id},"description":{quote(description)},'
            f'"amount":{money_literal(cents)},"type":{kinds.get(kind) or quote(kind)},'
            f'"created_at":{created_at_literal(stamp)}}}'
            for row_id, description, cents, stamp, kind in rows
        ]
        return f"[{','.join(items)}]"
    # the same, inlined, cents through a table: the arithmetic and format specs of the
    # general path were three quarters of its time
    cents_text = _CENTS
    items = [
        f'{{"id":{row_id},"description":{quote(description)},'
        f'"amount":{"-" if cents < 0 else ""}{abs(cents) // 100}{cents_text[abs(cents) % 100]},'
        f'"type":{kinds.get(kind) or quote(kind)},'
        f'"created_at":"{stamp.replace(" ", "T")}Z"}}'
        for row_id, description, cents, stamp, kind in rows
    ]
    return f"[{','.join(items)}]"


def money_literal(cents: int) -> str:
    """Integer cents as the JSON number with two decimals (``-1250`` -> ``-12.50``)."""
    whole, frac = divmod(-cents if cents < 0 else cents, 100)
    return f"{'-' if cents < 0 else ''}{whole}.{frac:02d}"


def created_at_literal(stamp: str) -> str:
    """UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` as the quoted ``...T...Z`` of the API."""
    if _is_canonical(stamp):
        return f'"{stamp[:10]}T{stamp[11:]}Z"'
    return f'"{utc_from_text(stamp).strftime(CREATED_AT_FORMAT)}"'


def utc_from_text(text: str) -> datetime:
    """The aware UTC instant of a ``Listed`` row's ``created_at``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _is_canonical(stamp: str) -> bool:
    # years below 1000 are left to strftime, which does not pad them to four digits
    return len(stamp) == _STAMP_WIDTH and stamp[10] == " " and stamp[0] != "0"


@functools.cache
def _page_statement(dialect: str, by_kind: bool, after: bool) -> Select[Any]:
    """The page query of this shape for this database, built once: building it per
    request cost ~170 us of CPU, more than running it (SQLAlchemy then finds its
    compiled form in the engine's cache); values are bound at execution."""
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
