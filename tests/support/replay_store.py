"""What the DPoP replay store's tests share: a settable clock, keys, the stored rows."""

from __future__ import annotations

from sqlalchemy import text

from cashman.database import Database

NOW = 1_750_000_000.0
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
OTHER_JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


class Clock:
    """Unix seconds that move only when a test sets ``now``."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rows(db: Database) -> list[tuple]:
    """Every (jkt, jti_sha256, expires_at) stored, by expiry then jkt."""
    with db.engine.connect() as connection:
        query = "SELECT jkt, jti_sha256, expires_at FROM dpop_replay ORDER BY expires_at, jkt"
        return [tuple(row) for row in connection.execute(text(query))]
