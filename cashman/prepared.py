"""A Core statement compiled once, for code that runs it on the driver's cursor itself.

The DPoP replay write (``cashman.dpop_replay``, SPEC §3a step 5) is most of what DPoP
adds to a request, and it needs what SQLAlchemy's execution layer does not let a
caller choose per statement: its own short transaction with a pragma around it on
SQLite, autocommit without a server-side prepared statement on PostgreSQL. So it
executes on the driver's cursor, and this class gives it what SQLAlchemy would have:
the statement compiled by the engine's dialect (SQL text, parameter order, values
fixed at compile time) and the bind processors of its column types.

The list page (``cashman.listing``) runs on the driver's cursor too: SQLAlchemy's
execution layer (its context, the ``BEGIN`` the SQLite engine emits, a ``Row`` per row)
was about a quarter of a ``GET /incomes`` on SQLite and on PostgreSQL alike
(BENCHMARKS.md). Everything else of the API runs its statements through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement


class PreparedQuery:
    """``statement`` compiled for ``dialect``: ``sql``, and ``parameters()`` for the driver.

    Raises ``ValueError`` for a statement that must be compiled again per execution
    (expanding ``IN`` lists, literal-execute parameters).
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        """Compile ``statement`` (a Core select, insert or delete) for ``dialect``."""
        compiled = statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("statement needs per-execution compilation")
        self.sql = compiled.string
        # values fixed at compile time (SQLite's OFFSET 0 of a LIMIT, for one)
        self.defaults = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        self.positions: tuple[str, ...] | None = (
            tuple(compiled.positiontup or ()) if dialect.positional else None
        )
        self.processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.processors[name] = processor

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters: ``values`` over the compiled defaults, processed, as a
        tuple for a positional driver (SQLite) or a mapping (psycopg)."""
        merged = {**self.defaults, **values}
        for name, processor in self.processors.items():
            merged[name] = processor(merged[name])
        if self.positions is None:
            return merged
        return tuple(merged[name] for name in self.positions)


@contextmanager
def driver_cursor(engine: Engine) -> Iterator[Any]:
    """A cursor on a pooled connection of ``engine`` (checked out as SQLAlchemy checks one
    out: pre-ping included), given back to the pool after, which rolls back what is open.

    The driver's errors are raised as SQLAlchemy's (``DBAPIError`` subclasses, so an
    outage is the API's 503), and a connection found lost is invalidated, not reused.
    """
    dbapi = engine.dialect.loaded_dbapi
    try:
        connection = engine.raw_connection()
    except dbapi.Error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi.Error) from exc
    cursor = None
    try:
        cursor = connection.cursor()
        yield cursor
    except dbapi.Error as exc:
        lost = engine.dialect.is_disconnect(exc, connection.dbapi_connection, cursor)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, dbapi.Error, connection_invalidated=lost
        ) from exc
    finally:
        if cursor is not None:
            with suppress(dbapi.Error):
                cursor.close()
        connection.close()
