"""A Core statement compiled once, for code that runs it on the driver itself.

The DPoP replay write (``cashman.dpop_replay``, SPEC §3a step 5) is most of what DPoP
adds to a request, and it needs what SQLAlchemy's execution layer does not let a
caller choose per statement: its own short transaction on a connection kept open for
it, in one driver call (libpq's on PostgreSQL, with nothing prepared server-side). So
it executes on the driver itself, and this class gives it what SQLAlchemy would have:
the statement compiled by a dialect (SQL text, parameter order, values fixed at
compile time) and the bind processors of its column types. The create of a
transaction (``cashman.storage.create``) runs its one ``INSERT ... RETURNING`` on the
driver's cursor too: SQLAlchemy's connection and result layers cost more than the SQL
there. Everything else of the API runs its statements through SQLAlchemy (the list
path did too, once it was measured: this saved it under 15 % of a request on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement


class PreparedQuery:
    """``statement`` compiled for ``dialect``: ``sql``, and ``parameters()`` for the driver.

    Raises ``ValueError`` for a statement that must be compiled again per execution
    (expanding ``IN`` lists, literal-execute parameters).
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        """Compile ``statement`` (a Core select, insert or delete) for ``dialect``.
        Raises ``ValueError`` for one that needs compiling per execution."""
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
