"""The DPoP replay store in the application's database (SPEC §3a step 5, §8).

Every worker and every instance shares the database, so a proof accepted by one is
refused by all the others: SQLite on one machine, PostgreSQL across many. One row per
accepted proof, unique on (``jkt``, SHA-256 of ``jti``), with its expiry.

The write is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` whose row count says
whether this call won: 1 when the pair was new (or its old row had expired), 0 when an
unexpired row holds it. The database's unique index decides, so two workers racing with
the same proof cannot both win. It runs in its own short transaction, apart from the
request's: this is most of what DPoP adds to a request, so it is one call into the
driver on a connection kept open for it.

Connections: the store keeps idle driver connections of its own on the same database
(made by an engine of its own: the app's connect settings, and the set-up below once
each) and takes one per write, without SQLAlchemy's pool (``cashman.driver_connections``,
which says why). A connection found dropped is closed with every idle one and the write
tried once more on a new connection.

- PostgreSQL: one round trip through libpq (``PQsendQueryParams``, psycopg's
  documented ``pgconn``; the answer awaited within ``cashman.pg_deadline``'s bound):
  text parameters, an unnamed statement (nothing prepared server-side, as
  PgBouncer in transaction pooling mode needs) on an autocommit connection, so no
  session state outlives the statement. ``synchronous_commit`` is off for that
  transaction only: a replay record lost in a database crash can only re-open a proof
  that is still within its few minutes, while waiting for a WAL flush would add that
  flush to every DPoP request.
- SQLite: the statement alone, in autocommit: its own transaction, whose first step
  takes the write lock (so it is retried whole under the busy timeout, as ``BEGIN
  IMMEDIATE`` ensures for longer transactions), in one call into SQLite (each call
  releases and retakes the GIL). It waits its turn on the app's writer lock
  (``cashman.write_lock``) first, so it queues with the app's writes instead of
  sleeping in SQLite's busy handler behind them. The connections run ``synchronous = NORMAL`` (the
  app's own stay ``FULL``): in WAL mode a commit survives the process being killed;
  only an operating-system crash can drop the last ones, with the consequence above.

Expired rows are deleted after a write (never before it) by bounded runs of a walk over
the primary key (``cashman.dpop_replay_cleanup``, which states the bound on the table's
size); with no index on ``expires_at`` each write changes one b-tree, not two. A failed
write is a ``ReplayStoreUnavailableError`` (a 503), never an unchecked acceptance, and
is told to ``on_error`` (the app counts it); a failed clean-up is logged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import partial
from typing import Any

from psycopg import pq
from sqlalchemy import Engine, event

from auth.replay import ReplayStoreUnavailableError
from cashman.database import Database, build_engine
from cashman.dpop_replay_cleanup import RUN_BUDGET_S, SKEW_MARGIN_S, ReplayCleanup
from cashman.dpop_replay_sql import insert_statement, statement_dialect
from cashman.driver_connections import (
    DRIVER_ERRORS,
    DriverConnections,
    StatementError,
    libpq_statement,
)
from cashman.prepared import PreparedQuery
from cashman.write_lock import NoLock, WriterLock

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5.0
# the upsert's parameters in the order ``record`` passes them, checked against the
# compiled statement when a store is made (a tuple built in place costs 0.1 us, the
# mapping ordered by ``PreparedQuery.parameters`` 0.9 us)
_INSERT_PARAMETERS = ("jkt", "jti_sha256", "expires_at", "now")


def init_app(
    database: Database, on_error: Callable[[str], None] | None = None
) -> DatabaseReplayStore:
    """The replay store of the app's ``database``, closed when the database is disposed;
    ``on_error(error class name)`` hears of each failed write (the app's metrics)."""
    store = DatabaseReplayStore(
        database.engine, writer_lock=database.writer_lock, on_error=on_error
    )
    database.on_dispose(store.dispose)
    return store


def jti_digest(jti: str) -> str:
    """base64url(SHA-256(UTF-8 of ``jti``)): lone surrogates kept, so distinct strings differ."""
    digest = hashlib.sha256(jti.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class DatabaseReplayStore:
    """An ``auth.replay.ReplayStore`` on the app's SQLAlchemy ``engine`` (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.time,
        cleanup_interval_s: float = 60.0,
        cleanup_batch: int = 1000,
        cleanup_max_batches: int = 20,
        cleanup_skew_margin_s: float = SKEW_MARGIN_S,
        cleanup_budget_s: float = RUN_BUDGET_S,
        writer_lock: WriterLock | NoLock | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """``engine`` (the app's, schema migrated); ``clock`` in Unix seconds; a complete
        clean-up pass at most every ``cleanup_interval_s`` seconds, each run walking up
        to ``cleanup_batch`` x ``cleanup_max_batches`` keys and deleting rows expired
        more than ``cleanup_skew_margin_s`` seconds ago, a run ending after the batch
        that takes it past ``cleanup_budget_s`` seconds (``ReplayCleanup``). The
        writes use connections of their own on the same database (see the module
        docstring), made by ``write_engine``; ``dispose()`` closes them. No connection is
        opened before the first write.
        ``writer_lock``: the app database's (``Database.writer_lock``), held around each
        SQLite write; None: no turn is taken (SQLite's busy timeout alone).
        ``on_error``: called with the error's class name when a write fails (before the
        ``ReplayStoreUnavailableError``), e.g. to count it; it must not raise."""
        self.engine = engine
        self.clock = clock
        self._is_postgres = engine.dialect.name == "postgresql"
        self._writer_lock = writer_lock or NoLock()
        self._on_error = on_error
        self.write_engine = build_engine(
            engine.url.render_as_string(hide_password=False), pre_ping=False
        )
        event.listen(self.write_engine, "connect", self._on_connect)
        self.connections = DriverConnections(self.write_engine)
        # compiled once (PreparedQuery: SQL text, parameter order)
        dialect = statement_dialect(engine)
        self._insert = PreparedQuery(insert_statement(engine.dialect.name), dialect)
        compiled = (self._insert.positions, self._insert.defaults, self._insert.processors)
        if compiled != (_INSERT_PARAMETERS, {}, {}):
            raise RuntimeError("the upsert's parameters are not those record() passes")
        self._cleanup = ReplayCleanup(
            dialect,
            partial(self.connections.execute, self._run),
            partial(self.connections.execute, self._run_query),
            interval_s=cleanup_interval_s,
            batch=cleanup_batch,
            max_batches=cleanup_max_batches,
            skew_margin_s=cleanup_skew_margin_s,
            budget_s=cleanup_budget_s,
        )

    def record(self, jkt: str, jti: str, expires_at: float) -> bool:
        """Record the proof (``jkt``, ``jti``) until ``expires_at`` (Unix seconds, kept to
        the next whole second): True when recorded now (new, or its old record expired),
        False when an unexpired record holds it, a replay (SPEC §3a step 5). Raises
        ``ReplayStoreUnavailableError`` (``retry_after`` ``RETRY_AFTER_S``) when the
        database fails. A clean-up run may follow the write (``auth.replay.ReplayStore``).
        """
        now = self.clock()
        params = (jkt, jti_digest(jti), math.ceil(expires_at), math.floor(now))
        try:
            recorded = self.connections.execute(self._run, self._insert.sql, params) == 1
        except (StatementError, *DRIVER_ERRORS) as exc:
            error = exc.error if isinstance(exc, StatementError) else type(exc).__name__
            logger.warning("DPoP replay store unreachable (%s)", error)
            if self._on_error is not None:
                with suppress(Exception):  # counting must never turn the 503 into a 500
                    self._on_error(error)
            raise ReplayStoreUnavailableError("database error", RETRY_AFTER_S) from None
        if now >= self._cleanup.next_run:  # after the write, never before it
            self._cleanup.run(now)
        return recorded

    def cleanup(self, now: float | None = None) -> int:
        """One clean-up run at ``now`` (Unix seconds; default: the clock): the number of
        expired rows deleted, 0 while another thread of this process runs one. Never
        raises for a database failure (logged; see ``cashman.dpop_replay_cleanup``)."""
        return self._cleanup.run(self.clock() if now is None else now)

    def dispose(self) -> None:
        """Close the connections of its own; the app's engine is the app's."""
        self.connections.dispose()
        self.write_engine.dispose()

    def _run(self, connection: Any, sql: str, params: Sequence[Any]) -> int:
        """One statement on ``connection`` (autocommit): the number of rows it changed."""
        if not self._is_postgres:
            try:
                with self._writer_lock.hold():
                    return int(connection.execute(sql, params).rowcount)
            except sqlite3.Error as exc:
                raise StatementError(lost=False, error=type(exc).__name__) from None
        result = libpq_statement(connection, sql, params, pq.ExecStatus.COMMAND_OK)
        return int(result.command_tuples or 0)

    def _run_query(self, connection: Any, sql: str, params: Sequence[Any]) -> list[tuple[str, ...]]:
        """One query on ``connection`` (autocommit): its rows, every column as text."""
        if not self._is_postgres:
            try:  # a read: in WAL mode it waits for no writer, so no turn on the lock
                return connection.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StatementError(lost=False, error=type(exc).__name__) from None
        result = libpq_statement(connection, sql, params, pq.ExecStatus.TUPLES_OK)
        return [
            tuple(result.get_value(row, col).decode() for col in range(result.nfields))
            for row in range(result.ntuples)
        ]

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        """Each connection of the write path, once: autocommit (PostgreSQL), or commits
        that wait for no fsync in WAL mode (SQLite, after ``build_engine``'s pragmas)."""
        if self._is_postgres:
            dbapi_connection.autocommit = True
        else:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()
