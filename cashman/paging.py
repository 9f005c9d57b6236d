"""Keyset paging (SPEC §4, Lists): an opaque cursor naming the last row seen, and ``Link``.

Pages are ``(created_at, id) < cursor ORDER BY created_at DESC, id DESC``, so
the cost of a page does not grow with its depth, and a walk through every
page sees each row once even while rows are added (RFC 8288 for ``Link``).
The cursor is URL-safe base64 of ``<microseconds since the epoch>.<id>``:
opaque to clients, checked strictly when it comes back.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from cashman.locations import public_url
from cashman.models import MAX_ID

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# up to year 9999 in microseconds, and a BIGINT id
_CURSOR_TEXT = re.compile(r"(\d{1,18})\.(\d{1,19})")
_MAX_CURSOR_LENGTH = 64
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class InvalidCursorError(ValueError):
    """The cursor was not made by this API."""


@dataclass(frozen=True)
class Cursor:
    """Position after which the next page starts (exclusive)."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        """Opaque URL-safe text for this position."""
        micros = (self.created_at - EPOCH) // timedelta(microseconds=1)
        raw = f"{micros}.{self.id}".encode("ascii")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a cursor from :meth:`encode`; anything else is ``InvalidCursorError``."""
        if len(text) > _MAX_CURSOR_LENGTH or not _BASE64URL.fullmatch(text):
            raise InvalidCursorError(text)
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        except (binascii.Error, ValueError):
            raise InvalidCursorError(text) from None
        match = _CURSOR_TEXT.fullmatch(raw)
        if match is None:
            raise InvalidCursorError(text)
        micros, row_id = int(match[1]), int(match[2])
        try:
            created_at = EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            raise InvalidCursorError(text) from None
        if row_id > MAX_ID:
            raise InvalidCursorError(text)
        return cls(created_at, row_id)


def next_link(path: str, limit: int, cursor: Cursor) -> str:
    """``Link`` header value pointing at the page after ``cursor`` of the list at ``path``.

    ``path`` is root-relative (``/incomes``); the target is absolute under
    ``API_BASE_URL`` when it is set (``cashman.locations.public_url``), so a client
    behind a prefix-stripping proxy follows it to the right place. Needs an app context.
    """
    query = urlencode({"limit": limit, "cursor": cursor.encode()})
    return f'<{public_url(path)}?{query}>; rel="next"'
