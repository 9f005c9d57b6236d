"""The DPoP replay store in the application's database (SPEC §3a step 5, §8).

Every worker and every instance shares the database, so a proof accepted by one is
refused by all the others: SQLite on one machine, PostgreSQL across many. One row per
accepted proof, unique on (``jkt``, SHA-256 of ``jti``), with its expiry.

The write is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` whose row count says
whether this call won: 1 when the pair was new (or its old row had expired), 0 when an
unexpired row holds it. The database's unique index decides, so two workers racing with
the same proof cannot both win. It runs on the driver's cursor in its own short
transaction, apart from the request's: this is most of what DPoP adds to a request.

The writes use a small pool of their own on the same database, set up once per
connection for this one statement, and without the pool's pre-ping (a ``SELECT 1`` on
every checkout: a second round trip on PostgreSQL); a connection found dropped is
invalidated and the write tried once more on a fresh one.

- PostgreSQL: one round trip. One statement on an autocommit connection, sent without
  a server-side prepared statement (PgBouncer in transaction pooling mode cannot keep
  those), with ``synchronous_commit`` off for that transaction only: a replay record
  lost in a database crash can only re-open a proof that is still within its few
  minutes, while waiting for a WAL flush would add that flush to every DPoP request.
- SQLite: the statement alone, in autocommit: its own transaction, whose first step
  takes the write lock (a transaction that begins by writing is retried whole under the
  busy timeout, so two workers never read a snapshot and then fail to upgrade it, as
  ``BEGIN IMMEDIATE`` ensures for longer transactions). One call into SQLite instead of
  three: each releases and retakes the GIL, which under a threaded server costs more
  than the SQL (measured: ``bench/bench_dpop.py``). The connections are opened with
  ``synchronous = NORMAL`` (the app's own stay ``FULL``): in WAL mode a commit then
  survives the process being killed; only an operating-system crash can drop the last
  ones, with the same bounded consequence as above.

Rows past their expiry are deleted at most once per ``cleanup_interval_s`` per process,
in bounded batches, after a write (never before it): the table holds about one window
of proofs and no request pays for more than one batch run. Any database failure is a
``ReplayStoreUnavailableError`` (a 503), never an unchecked acceptance.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import BigInteger, Engine, bindparam, delete, event, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from auth.replay import ReplayStoreUnavailableError
from cashman.database import Database, build_engine
from cashman.models import DPoPReplayRecord
from cashman.prepared import PreparedQuery

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5.0
_TABLE = DPoPReplayRecord.__table__


def _insert_statement(dialect_name: str) -> Any:
    """The upsert: inserted, or an expired row taken over, means recorded now."""
    values = [bindparam(name, type_=column.type) for name, column in _TABLE.c.items()]
    if dialect_name == "postgresql":
        # One statement, one round trip: `set_config(..., true)` lasts only for the
        # statement's own transaction, whose commit then does not wait for the WAL flush.
        async_commit = func.set_config("synchronous_commit", "off", True).is_not(None)
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


def _cleanup_statement() -> Any:
    """Delete up to ``batch`` expired rows, oldest first (the expiry index serves both)."""
    now = bindparam("now", type_=BigInteger)
    expired = (
        select(_TABLE.c.jkt, _TABLE.c.jti_sha256)
        .where(_TABLE.c.expires_at < now)
        .order_by(_TABLE.c.expires_at)
        .limit(bindparam("batch", type_=BigInteger))
    )
    # `expires_at` again outside: a row taken over meanwhile (PostgreSQL re-checks the
    # outer condition on the updated row) is no longer expired and stays
    return delete(_TABLE).where(
        tuple_(_TABLE.c.jkt, _TABLE.c.jti_sha256).in_(expired), _TABLE.c.expires_at < now
    )


def init_app(database: Database) -> DatabaseReplayStore:
    """The replay store of the app's ``database``, closed when the database is disposed."""
    store = DatabaseReplayStore(database.engine)
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
    ) -> None:
        """``engine`` (the app's, schema migrated); ``clock`` in Unix seconds; clean-ups at
        most every ``cleanup_interval_s``, each deleting up to ``cleanup_batch`` x
        ``cleanup_max_batches`` expired rows. The writes use a pool of their own on the same
        database (see the module docstring): ``write_engine`` is that pool's engine and
        ``dispose()`` closes it."""
        self.engine = engine
        self.clock = clock
        self.cleanup_interval_s = cleanup_interval_s
        self.cleanup_batch = cleanup_batch
        self.cleanup_max_batches = cleanup_max_batches
        dialect = engine.dialect
        self._is_postgres = dialect.name == "postgresql"
        self.write_engine = build_engine(
            engine.url.render_as_string(hide_password=False), pre_ping=False
        )
        event.listen(self.write_engine, "connect", self._on_connect)
        # compiled once for this dialect (PreparedQuery: SQL text, parameter order)
        self._insert = PreparedQuery(_insert_statement(dialect.name), dialect)
        self._cleanup = PreparedQuery(_cleanup_statement(), dialect)
        self._cleanup_lock = threading.Lock()
        self._next_cleanup = 0.0

    def record(self, jkt: str, jti: str, expires_at: float) -> bool:
        """See ``auth.replay.ReplayStore.record``; raises ``ReplayStoreUnavailableError``."""
        now = self.clock()
        params = self._insert.parameters(
            {
                "jkt": jkt,
                "jti_sha256": jti_digest(jti),
                "expires_at": math.ceil(expires_at),
                "now": math.floor(now),
            }
        )
        try:
            recorded = self._insert_once(params)
        except DBAPIError as exc:
            # The pool skips the pre-ping (a round trip on every request), so a connection
            # the server dropped while idle shows up here: it was invalidated, and the
            # write is tried once more on a fresh connection.
            if not exc.connection_invalidated:
                raise self._unavailable(exc) from None
            try:
                recorded = self._insert_once(params)
            except (SQLAlchemyError, OSError) as retry_exc:
                raise self._unavailable(retry_exc) from None
        except (SQLAlchemyError, OSError) as exc:
            raise self._unavailable(exc) from None
        if now >= self._next_cleanup:
            self.cleanup(now)
        return recorded

    def dispose(self) -> None:
        """Close the write pool of its own; the app's engine is the app's."""
        self.write_engine.dispose()

    def _insert_once(self, params: Any) -> bool:
        with self._cursor() as cursor:
            cursor.execute(self._insert.sql, params, **self._no_prepare)
            return bool(cursor.rowcount == 1)

    @staticmethod
    def _unavailable(exc: BaseException) -> ReplayStoreUnavailableError:
        logger.warning("DPoP replay store unreachable (%s)", type(exc).__name__)
        return ReplayStoreUnavailableError("database error", RETRY_AFTER_S)

    def cleanup(self, now: float | None = None) -> int:
        """Delete expired rows in batches (one run per process at a time); return how many.

        Failures are logged and left for the next run: the proof was already recorded.
        """
        if not self._cleanup_lock.acquire(blocking=False):
            return 0
        now = self.clock() if now is None else now
        deleted = 0
        try:
            self._next_cleanup = now + self.cleanup_interval_s
            params = self._cleanup.parameters({"now": math.floor(now), "batch": self.cleanup_batch})
            for _ in range(self.cleanup_max_batches):
                with self._cursor() as cursor:
                    cursor.execute(self._cleanup.sql, params, **self._no_prepare)
                    count = cursor.rowcount
                deleted += count
                if count < self.cleanup_batch:
                    break
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("DPoP replay clean-up failed (%s)", type(exc).__name__)
        finally:
            self._cleanup_lock.release()
        return deleted

    @property
    def _no_prepare(self) -> dict[str, Any]:
        # psycopg prepares a statement server-side after its 5th use unless told not to
        return {"prepare": False} if self._is_postgres else {}

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        """Each connection of the write pool, once: autocommit (PostgreSQL), or commits
        that wait for no fsync in WAL mode (SQLite, after ``build_engine``'s pragmas)."""
        if self._is_postgres:
            dbapi_connection.autocommit = True
        else:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor of the write pool (each statement its own transaction: autocommit);
        driver errors as SQLAlchemy's."""
        dbapi = self.write_engine.dialect.loaded_dbapi
        try:
            # the pool hands over the driver's own errors: raised as SQLAlchemy's too
            connection = self.write_engine.raw_connection()
        except dbapi.Error as exc:
            raise DBAPIError.instance(None, None, exc, dbapi.Error) from exc
        cursor = None
        try:
            cursor = connection.cursor()
            yield cursor
        except dbapi.Error as exc:
            dbapi_connection = connection.dbapi_connection
            lost = self.write_engine.dialect.is_disconnect(exc, dbapi_connection, cursor)
            if lost:
                connection.invalidate(exc)
            raise DBAPIError.instance(
                None, None, exc, dbapi.Error, connection_invalidated=lost
            ) from exc
        finally:
            if cursor is not None:
                with suppress(dbapi.Error):
                    cursor.close()
            # back to the pool, which rolls back what a failure left open
            connection.close()
