"""The app's database: one engine, set up for its backend, and short sessions (SPEC §5).

SQLite runs in WAL mode with ``synchronous=FULL``, so a 2xx survives a SIGKILL,
and a busy timeout; a write transaction opens with ``BEGIN IMMEDIATE``, so two
workers never both read and then fail to upgrade to a write lock, and waits for its
turn on ``cashman.write_lock`` first, so writers queue instead of sleeping in
SQLite's busy handler. PostgreSQL
connections time out, keep alive and must be answered within seconds
(``cashman.pg_deadline``), so a database that is down or stalled answers 503 in
seconds instead of hanging a worker. The schema is brought up to date when the
app starts (``init_app``), under the lock ``cashman.migration_lock`` takes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from auth import ConfigError
from cashman.pg_deadline import PG_ANSWER_TIMEOUT_S, use_deadlines
from cashman.write_lock import NoLock, WriterLock

EXTENSION = "cashman.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 10


class Database:
    """One engine per app; short sessions, each one transaction.

    ``url`` is a SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``).
    Creating it opens no connection; a bad URL raises SQLAlchemy's ``ArgumentError``.
    """

    def __init__(self, url: str) -> None:
        """Build the engine for ``url``; see the class docstring."""
        self.url = url
        self.engine = build_engine(url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(cashman_write=True)
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)
        self._disposers: list[Callable[[], None]] = []
        self.writer_lock = writer_lock(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads (a deferred transaction: readers never wait for writers)."""
        with self._read() as session, session.begin():
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session whose transaction commits at the end unless it raises.

        On SQLite, the transaction (its commit and fsync included) runs under the
        writer lock; a wait past ``POOL_TIMEOUT_S`` raises SQLAlchemy's ``TimeoutError``.
        """
        with self.writer_lock.hold(), self._write() as session, session.begin():
            yield session

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """Like ``writing``, for Core statements: a connection, no ORM session."""
        with self.writer_lock.hold(), self._write_engine.begin() as connection:
            yield connection

    @contextmanager
    def write_cursor(self) -> Iterator[Any]:
        """Like ``write_connection``, on the driver's own cursor: for the one hot write
        (a create), where SQLAlchemy's connection and result layers cost more than the
        SQL. The transaction commits at the end unless it raises; a driver error is
        raised as SQLAlchemy's (``OperationalError`` and so on, a 503 where it means an
        outage), and a connection the server dropped is invalidated."""
        dbapi = self.engine.dialect.loaded_dbapi
        with self.writer_lock.hold():
            try:
                connection = self.engine.raw_connection()
            except dbapi.Error as exc:
                raise DBAPIError.instance(None, None, exc, dbapi.Error) from exc
            cursor = None
            try:
                cursor = connection.cursor()
                if self.is_sqlite:
                    # the connection is in autocommit (see _configure_sqlite): open the
                    # write transaction as the "begin" event does for SQLAlchemy's
                    cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                connection.commit()
            except dbapi.Error as exc:
                dbapi_connection = connection.dbapi_connection
                lost = self.engine.dialect.is_disconnect(exc, dbapi_connection, cursor)
                if lost:
                    connection.invalidate(exc)
                raise DBAPIError.instance(
                    None, None, exc, dbapi.Error, connection_invalidated=lost
                ) from exc
            finally:
                if cursor is not None:
                    cursor.close()
                # back to the pool, which rolls back whatever a failure left open
                connection.close()

    def on_dispose(self, dispose: Callable[[], None]) -> None:
        """Call ``dispose`` first when the database is disposed (a pool of its own, e.g.)."""
        self._disposers.append(dispose)

    def dispose(self) -> None:
        """Close every pooled connection, those of what registered ``on_dispose`` first."""
        for dispose in self._disposers:
            dispose()
        self.engine.dispose()
        self.writer_lock.close()


def init_app(app: Flask, url: str, *, migrate: bool = True) -> Database:
    """Open the database at ``url`` for ``app`` and, with ``migrate``, bring its schema up
    to date (a worker whose server's parent did so passes False: nothing connects then).

    Raises ``auth.ConfigError`` naming ``DATABASE_URL`` (one line, no driver text)
    when the database cannot be reached or migrated.
    """
    # imported here so that ``python -m cashman.migrate`` runs a module not yet imported
    from cashman.migrate import schema_errors, upgrade

    database = Database(url)
    if migrate:
        try:
            with schema_errors():
                upgrade(database.engine)
        except ConfigError:
            database.dispose()
            raise
    app.extensions[EXTENSION] = database
    return database


def current_database() -> Database:
    """The current app's database."""
    return current_app.extensions[EXTENSION]


def build_engine(
    url: str, *, pre_ping: bool = True, answer_timeout_s: float | None = PG_ANSWER_TIMEOUT_S
) -> Engine:
    """An engine for ``url`` with the pragmas or timeouts its backend needs.

    ``pre_ping=False`` skips the pool's liveness round trip on checkout, for a caller
    that detects a dropped connection itself and retries (the DPoP replay write).
    SQLite never pings: a connection to a local file cannot be dropped by a server,
    and the ping was one of the three statements of every write. PostgreSQL: each
    answer must come within ``answer_timeout_s`` seconds (``cashman.pg_deadline``;
    None: no bound, for migrations).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        ensure_sqlite_directory(url)
        engine = create_engine(url)
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args = {
            # a database that is down answers 503 in seconds, not a hung worker
            "connect_timeout": PG_CONNECT_TIMEOUT_S,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            # no server-side prepared statements: behind a transaction pooler (PgBouncer,
            # SPEC section 8) the next transaction may run on another server connection,
            # where the statement is missing or another client's has the same name
            "prepare_threshold": None,
        }
    engine = create_engine(
        url, pool_pre_ping=pre_ping, pool_timeout=POOL_TIMEOUT_S, connect_args=connect_args
    )
    if answer_timeout_s is not None and parsed.get_backend_name() == "postgresql":
        use_deadlines(engine, answer_timeout_s)
    return engine


def writer_lock(url: str) -> WriterLock | NoLock:
    """The lock write transactions take: a file beside a SQLite database file
    (``<file>.write-lock``, as ``cashman.migration_lock`` has ``<file>.migrate-lock``);
    nothing for an in-memory or URI-named SQLite database, or another database."""
    path = sqlite_file(url)
    if path is None:
        return NoLock()
    return WriterLock(f"{path}.write-lock", timeout_s=POOL_TIMEOUT_S)


def sqlite_file(url: str) -> str | None:
    """The path of a SQLite database file, or None (not SQLite, in memory, a URI)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database:
        return None
    if database == ":memory:" or database.startswith("file:"):
        return None
    return database


def sqlite_in_memory(url: str) -> bool:
    """Whether ``url`` names a SQLite database held in memory: ``sqlite://``,
    ``sqlite:///:memory:``, ``sqlite:///file::memory:?uri=true``, or a ``file:`` URI with
    ``mode=memory``."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        return True
    return database.startswith("file::memory:")  # the URI form of ":memory:"


def ensure_sqlite_directory(url: str) -> None:
    """Create the directory of a SQLite file (the default lives under ``instance/``)."""
    database = sqlite_file(url)
    if database is not None:
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy's "begin" event below choose how each transaction opens
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        is_write = connection.get_execution_options().get("cashman_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if is_write else "BEGIN")
