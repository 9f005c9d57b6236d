"""A page of transactions straight to JSON text: the hot path of the list endpoints.

``TransactionOut`` stays the contract (and the OpenAPI document); a page of 50 through
its marshmallow dump and the exact-Decimal encoder cost ~500 us of CPU, a third of the
whole request. The rows of a list (``storage.Listed``: integer cents and UTC text) are
written here without a Decimal or a datetime, into exactly the bytes that dump plus
``jsonio.dumps_exact`` give (tests/api/test_render.py compares the two, on SQLite and
on PostgreSQL). Any change to ``TransactionOut`` must be made here too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from flask import Response, current_app

from cashman.models import Kind
from cashman.schemas import CREATED_AT_FORMAT

# the standard encoder's own string escaper (C, ASCII-only like dumps_exact's output)
_quote = json.encoder.encode_basestring_ascii
_KIND_JSON = {kind.value: _quote(kind.value) for kind in Kind}
# "YYYY-MM-DD HH:MM:SS.ffffff", the width of storage.Listed's created_at
_STAMP_WIDTH = 26
# storage.Listed, or any tuple (id, description, cents, created_at, kind)
Page = tuple[int, str, int, str, str]
_CENTS = [f".{cents:02d}" for cents in range(100)]


def money_literal(cents: int) -> str:
    """Integer cents as the JSON number with two decimals (``-1250`` -> ``-12.50``)."""
    whole, frac = divmod(-cents if cents < 0 else cents, 100)
    return f"{'-' if cents < 0 else ''}{whole}.{frac:02d}"


def created_at_literal(stamp: str) -> str:
    """UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` as the quoted ``...T...Z`` of the API."""
    if _is_canonical(stamp):
        return f'"{stamp[:10]}T{stamp[11:]}Z"'
    return f'"{datetime.fromisoformat(stamp).strftime(CREATED_AT_FORMAT)}"'


def _is_canonical(stamp: str) -> bool:
    # years below 1000 are left to strftime, which does not pad them to four digits
    return len(stamp) == _STAMP_WIDTH and stamp[10] == " " and stamp[0] != "0"


def render_page(rows: Sequence[Page]) -> str:
    """The JSON array of ``rows`` (id, description, cents, created_at, kind), compact."""
    quote, kinds = _quote, _KIND_JSON
    if not all(_is_canonical(row[3]) for row in rows):
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


def page_response(rows: Sequence[Page]) -> Response:
    """A 200 with the page as JSON, as ``jsonify`` would build it (newline included)."""
    return current_app.response_class(f"{render_page(rows)}\n", mimetype=current_app.json.mimetype)
