"""The DPoP replay store's clean-up: expired records removed by a walk over the key.

SPEC §3a step 5 keeps each (``jkt``, ``jti``) until its window ends and the store
"never growing without bound". The table (``cashman.models.DPoPReplayRecord``) has one
index, its primary key (``jkt``, ``jti_sha256``): an index on ``expires_at`` would find
the expired rows directly, but every accepted proof is an insert, and a second b-tree
made each one write two (on SQLite two WAL frames per commit: 30 us of CPU per insert
with it, 17-18 us without, measured in isolation). So the clean-up walks the primary
key instead:

- a batch is the next ``batch`` keys after a remembered position, in key order, read
  from the primary key's b-tree (never a scan of the table): one ``SELECT`` finds the
  batch's last key, one ``DELETE`` removes the rows of the batch whose ``expires_at``
  is past. The ``DELETE`` checks the expiry itself: a row taken over (recorded again
  after it expired) since the walk looked at it is no longer expired, and stays.
  SQLite deletes the key range (position, last key]. PostgreSQL deletes the first
  ``batch`` rows after the position by their row address (``ctid``, a TID scan): its
  index scan stops at an upper row-value bound only once ``jkt`` passes it, so a range
  within one client's keys reads on to the end of that client's rows (PostgreSQL 15,
  200 000 rows of one ``jkt``: 29 ms for a batch of 1000 instead of 1 ms). Keys written
  between the two statements can push a few keys at a batch's end to the next pass;
  none is deleted unexpired.
- the position moves to the batch's last key; where fewer than ``batch`` keys are left,
  the rest of the table is one last batch and the walk wraps to the start.
- a run is at most ``max_batches`` batches, at most one per process at a time, and
  starts after a write (the request's own record is never delayed by it). On SQLite
  each ``DELETE`` takes its turn on the writer lock as writes do, so other writers go
  between batches; the ``SELECT`` reads (WAL readers wait for no writer). After a
  run that wrapped the next is due in ``interval_s``; after one that stopped short of
  the end, in ``CATCH_UP_INTERVAL_S`` until the pass is complete.

Bound: a row that expired at time e is deleted by the first pass to reach its key
after e, at the latest within I + 2 D of e (I the interval, D the length of a pass:
N / (``batch`` x ``max_batches``) runs one ``CATCH_UP_INTERVAL_S`` apart). At a steady
r records per second and window W, a table of N rows satisfies
N <= r (W + I + 2 D): bounded whenever a process catching up walks more than 2 r keys
a second (the defaults walk 20 000).

A failed statement is logged and left for the next run, an ``interval_s`` later; the
position stays after the last batch done. The proof was already recorded.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    any_,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.engine import Dialect

from cashman.models import DPoPReplayRecord
from cashman.prepared import PreparedQuery

logger = logging.getLogger(__name__)

# A run that stopped short of the end of the table is followed by the next one this
# soon (seconds), not an interval later: the walk covers at most batch x max_batches
# keys per run, so at the normal interval a busy store would write faster than it is
# walked. One second keeps each request's share small (a run costs milliseconds) and
# still walks 60 times faster than once a minute.
CATCH_UP_INTERVAL_S = 1.0
# the position before every key: ``jti_sha256`` is never empty (43 characters), so
# every stored (jkt, jti_sha256) sorts after ("", "") in any collation
START = ("", "")

_TABLE = DPoPReplayRecord.__table__

Execute = Callable[[str, Sequence[Any]], int]
Fetch = Callable[[str, Sequence[Any]], list[tuple[str, ...]]]


def _key() -> Any:
    """The primary key (jkt, jti_sha256) as a row value, for range conditions."""
    return tuple_(_TABLE.c.jkt, _TABLE.c.jti_sha256)


def _key_param(prefix: str) -> Any:
    """A (jkt, jti_sha256) of bound parameters ``<prefix>_jkt``, ``<prefix>_jti``."""
    return tuple_(
        bindparam(f"{prefix}_jkt", type_=_TABLE.c.jkt.type),
        bindparam(f"{prefix}_jti", type_=_TABLE.c.jti_sha256.type),
    )


def _batch_end_statement() -> Any:
    """The ``skip`` + 1-th key after ``after``: the last of a full batch, or no row."""
    key, after = _key(), _key_param("after")
    return (
        select(_TABLE.c.jkt, _TABLE.c.jti_sha256)
        .where(key > after)
        .order_by(_TABLE.c.jkt, _TABLE.c.jti_sha256)
        .limit(1)
        .offset(bindparam("skip", type_=BigInteger))
    )


def _delete_statements(dialect_name: str) -> tuple[Any, Any]:
    """(a batch's ``DELETE``, the last batch's): the expired rows after ``after``, up to
    ``last`` or, in the last batch, to the end (SQLite); the expired rows among the
    first ``batch`` after ``after`` (PostgreSQL, both)."""
    now = bindparam("now", type_=BigInteger)
    # the expiry checked here, in the statement that deletes: whatever the walk saw
    # before, a row recorded again since is not deleted (on PostgreSQL, a row updated
    # since the statement began is checked again in its new version)
    expired = _TABLE.c.expires_at < now
    key, after, last = _key(), _key_param("after"), _key_param("last")
    if dialect_name == "postgresql":
        ctid = literal_column("ctid")
        batch = (
            select(ctid)
            .select_from(_TABLE)
            .where(key > after)
            .order_by(_TABLE.c.jkt, _TABLE.c.jti_sha256)
            .limit(bindparam("batch", type_=BigInteger))
        )
        statement = delete(_TABLE).where(ctid == any_(func.array(batch.scalar_subquery())), expired)
        return statement, statement
    return (
        delete(_TABLE).where(key > after, key <= last, expired),
        delete(_TABLE).where(key > after, expired),
    )


class ReplayCleanup:
    """The walk of one process's replay store: its position, its schedule, its lock.

    ``execute(sql, params)`` runs a statement on the store's connections and returns its
    row count; ``fetch(sql, params)`` returns the rows of a query; both raise one of
    ``errors`` when the database fails. Statements are compiled for ``dialect`` (SQLite,
    or PostgreSQL with ``$n`` placeholders).
    ``interval_s`` (seconds) between complete passes; a run is at most ``batch`` x
    ``max_batches`` keys.
    """

    def __init__(
        self,
        dialect: Dialect,
        execute: Execute,
        fetch: Fetch,
        errors: tuple[type[BaseException], ...],
        *,
        interval_s: float,
        batch: int,
        max_batches: int,
    ) -> None:
        """See the class docstring."""
        self.interval_s = interval_s
        self.batch = batch
        self.max_batches = max_batches
        self._execute = execute
        self._fetch = fetch
        self._errors = errors
        # compiled once (PreparedQuery: SQL text, parameter order)
        self._batch_end = PreparedQuery(_batch_end_statement(), dialect)
        batch_delete, last_delete = _delete_statements(dialect.name)
        self._delete_batch = PreparedQuery(batch_delete, dialect)
        self._delete_last = PreparedQuery(last_delete, dialect)
        self._lock = threading.Lock()
        self._after = START
        # Unix seconds at or after which the next write runs the clean-up
        self.next_run = 0.0

    def run(self, now: float) -> int:
        """One run of the walk at ``now`` (Unix seconds); the number of rows deleted.

        Returns 0 at once while another thread of this process runs one. Never raises
        for a database failure: it is logged, and the walk goes on from where it stopped
        at the next run.
        """
        if not self._lock.acquire(blocking=False):
            return 0
        deleted = 0
        try:
            # set first: a failure waits a whole interval rather than retry every write
            self.next_run = now + self.interval_s
            wrapped = False
            for _ in range(self.max_batches):
                count, wrapped = self._next_batch(math.floor(now))
                deleted += count
                if wrapped:
                    break
            if not wrapped:
                self.next_run = now + CATCH_UP_INTERVAL_S
        except self._errors as exc:
            logger.warning("DPoP replay clean-up failed (%s)", type(exc).__name__)
        finally:
            self._lock.release()
        return deleted

    def _next_batch(self, now: int) -> tuple[int, bool]:
        """Delete the expired rows of the next batch; (rows deleted, whether it wrapped)."""
        values = {
            "after_jkt": self._after[0],
            "after_jti": self._after[1],
            "skip": self.batch - 1,
            "batch": self.batch,
            "now": now,
        }
        ends = self._fetch(self._batch_end.sql, self._batch_end.parameters(values))
        if not ends:  # fewer than `batch` keys left: up to the end, then from the start
            count = self._execute(self._delete_last.sql, self._delete_last.parameters(values))
            self._after = START
            return count, True
        values["last_jkt"], values["last_jti"] = ends[0]
        count = self._execute(self._delete_batch.sql, self._delete_batch.parameters(values))
        self._after = (values["last_jkt"], values["last_jti"])
        return count, False
