"""A Core ``select`` compiled once and run straight on the driver's cursor.

Why: for a 51-row page, SQLAlchemy's execution and result layers (execution context,
the ``BEGIN`` the SQLite engine emits per transaction, a ``Row`` per row) cost ~60 us
of CPU, about as much as the query itself (bench/bench_inprocess.py). The statement
is still SQLAlchemy's, compiled by the engine's dialect with its bind processors
applied; the connection still comes from the engine's pool (pre-ping included); a
driver error is still raised as the SQLAlchemy exception the error handlers know (a
503 for ``OperationalError``), and a connection the driver reports as lost is
invalidated, as ``Connection.execute`` would do. Only for reads that need no
transaction: a single ``SELECT`` is consistent on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select


class PreparedQuery:
    """``statement`` compiled for ``dialect``: SQL text, parameter order, bind processors."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
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
        """The driver's parameters: ``values`` over the compiled defaults, processed."""
        merged = {**self.defaults, **values}
        for name, processor in self.processors.items():
            merged[name] = processor(merged[name])
        if self.positions is None:
            return merged
        return tuple(merged[name] for name in self.positions)

    def fetch(self, engine: Engine, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """All rows, as the driver's tuples."""
        parameters = self.parameters(values)
        dialect = engine.dialect
        with engine.connect() as connection:
            pooled = connection.connection
            cursor = pooled.cursor()
            try:
                cursor.execute(self.sql, parameters)
                return cursor.fetchall()
            except dialect.loaded_dbapi.Error as exc:
                lost = dialect.is_disconnect(exc, pooled.dbapi_connection, cursor)
                if lost:
                    connection.invalidate(exc)
                raise DBAPIError.instance(
                    self.sql,
                    parameters,
                    exc,
                    dialect.loaded_dbapi.Error,
                    connection_invalidated=lost,
                    dialect=dialect,
                ) from exc
            finally:
                with suppress(dialect.loaded_dbapi.Error):
                    cursor.close()
