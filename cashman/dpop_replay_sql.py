"""The DPoP replay store's upsert, per database (``cashman.dpop_replay``, SPEC §3a step 5).

One statement records a proof: inserted, or an expired row taken over, means recorded
now; an unexpired row holding the pair leaves it untouched (a row count of 0, a replay).
On PostgreSQL it also turns off the wait for the WAL flush for its own transaction, and
is compiled for libpq's ``$n`` placeholders: it goes to ``PQsendQueryParams``, not
through psycopg.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Engine, bindparam, func, literal_column, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from cashman.models import DPoPReplayRecord

_TABLE = DPoPReplayRecord.__table__


def insert_statement(dialect_name: str) -> Any:
    """The upsert for ``dialect_name`` (``postgresql`` or ``sqlite``), parameters ``jkt``,
    ``jti_sha256``, ``expires_at`` and ``now`` (NumericDates)."""
    values = [bindparam(name, type_=column.type) for name, column in _TABLE.c.items()]
    if dialect_name == "postgresql":
        # One statement, one round trip: `set_config(..., true)` lasts only for the
        # statement's own transaction, whose commit then does not wait for the WAL flush.
        async_commit = func.set_config(
            literal_column("'synchronous_commit'"), literal_column("'off'"), true()
        ).is_not(None)
        statement = postgresql.insert(_TABLE).from_select(
            list(_TABLE.c.keys()), select(*values).where(async_commit)
        )
    else:
        statement = sqlite.insert(_TABLE).values(values)
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.jkt, _TABLE.c.jti_sha256],
        set_={"expires_at": statement.excluded.expires_at},
        where=_TABLE.c.expires_at < bindparam("now", type_=BigInteger),
    )


def statement_dialect(engine: Engine) -> Dialect:
    """The dialect the statements are compiled for: libpq's ``$n`` placeholders on
    PostgreSQL (they go to ``PQsendQueryParams``, not through psycopg), the engine's own on
    SQLite."""
    if engine.dialect.name == "postgresql":
        return postgresql.psycopg.dialect(paramstyle="numeric_dollar")
    return engine.dialect
