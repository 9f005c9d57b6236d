"""The DPoP replay store's clean-up: expired records removed by a walk over the key.

SPEC §3a step 5 keeps each (``jkt``, ``jti``) until its window ends and the store
"never growing without bound". The table (``cashman.models.DPoPReplayRecord``) has one
index, its primary key (``jkt``, ``jti_sha256``): an index on ``expires_at`` would find
the expired rows directly, but every accepted proof is an insert, and a second b-tree
made each one write two (on SQLite about twice the WAL frames per commit: about 30 us
of CPU per insert with it, 18-23 us without, measured in isolation). So the clean-up
walks the primary key instead:

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
- a run is at most ``max_batches`` batches and stops after the batch that takes it
  past ``RUN_BUDGET_S``, at most one per process at a time; it starts after a write
  (the record is never delayed by it, the answer to that request by at most the budget
  and one batch). A row is deleted ``SKEW_MARGIN_S`` after its expiry, so instances
  whose clocks differ by less never delete a record another still needs. On SQLite
  each ``DELETE`` takes its turn on the writer lock as writes do, so other writers go
  between batches; the ``SELECT`` reads (WAL readers wait for no writer). After a
  run that wrapped the next is due in ``interval_s``; after one that stopped short of
  the end, in ``CATCH_UP_INTERVAL_S`` until the pass is complete.

Bound: a row that expired at time e is deleted by the first pass to reach its key
after e + M (M the skew margin), at the latest within M + I + 2 D of e (I the interval,
D the length of a pass: N / k runs one ``CATCH_UP_INTERVAL_S`` apart, k the keys a run
walks: ``batch`` x ``max_batches``, fewer when the time budget ends it first). At a
steady r records per second and window W, a table of N rows satisfies
N <= r (W + M + I + 2 D): bounded whenever a process catching up walks more than 2 r
keys a second, k / ``CATCH_UP_INTERVAL_S``. With the defaults that is up to 200 000 keys
a second on SQLite (20 batches of about 0.4 ms) and, on PostgreSQL at 1.5-4 ms a batch,
about 30 000; at low rates the table holds about W + M + I of records, and at higher
ones the 2 D term grows with it.

Any failure is logged and left for the next run, an ``interval_s`` later; the position
stays after the last batch done. The proof was already recorded.
"""

from __future__ import annotations

import logging
import math
import threading
import time
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
# soon (seconds), not an interval later: a run covers at most batch x max_batches keys
# and RUN_BUDGET_S of time, so at the normal interval a busy store would write faster
# than it is walked.
CATCH_UP_INTERVAL_S = 0.1
# A run stops after the batch that takes it past this many seconds: it runs in the
# request whose write started it, so that request waits at most this plus one batch
# (measured at a million rows: tens to hundreds of milliseconds for a whole run of 20
# batches on PostgreSQL, 1.5-4 ms a batch). At one run every CATCH_UP_INTERVAL_S a
# process still walks thousands of keys a second on PostgreSQL, far more on SQLite.
RUN_BUDGET_S = 0.010
# Rows are deleted only this many seconds after their expiry: the instances of a
# deployment read their own clocks, and a clean-up on one whose clock runs ahead
# would otherwise delete a record that another still needs to refuse a replay (its
# `iat` check still passing there). Clocks within a minute of each other are safe;
# the table holds a minute more of proofs.
SKEW_MARGIN_S = 60
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
    row count; ``fetch(sql, params)`` returns the rows of a query; whatever either raises
    ends the run (logged). Statements are compiled for ``dialect`` (SQLite, or
    PostgreSQL with ``$n`` placeholders).
    ``interval_s`` (seconds) between complete passes; a run is at most ``batch`` x
    ``max_batches`` keys and ends after the batch that passes ``budget_s`` seconds of
    ``timer``; rows go ``skew_margin_s`` seconds after their expiry.
    """

    def __init__(
        self,
        dialect: Dialect,
        execute: Execute,
        fetch: Fetch,
        *,
        interval_s: float,
        batch: int,
        max_batches: int,
        budget_s: float = RUN_BUDGET_S,
        skew_margin_s: float = SKEW_MARGIN_S,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """See the class docstring."""
        self.interval_s = interval_s
        self.batch = batch
        self.max_batches = max_batches
        self.budget_s = budget_s
        self.skew_margin_s = skew_margin_s
        self._timer = timer
        self._execute = execute
        self._fetch = fetch
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

        Rows whose ``expires_at`` is more than ``skew_margin_s`` before ``now`` are
        deleted. A run ends after ``max_batches`` batches or the batch that takes it past
        ``budget_s`` (``timer`` seconds). Returns 0 at once while another thread of this
        process runs one. Never raises: a failure is logged, and the walk goes on from
        where it stopped at the next run (the proof was already recorded; a clean-up
        must never turn its answer into an error).
        """
        if not self._lock.acquire(blocking=False):
            return 0
        deleted = 0
        try:
            # set first: a failure waits a whole interval rather than retry every write
            self.next_run = now + self.interval_s
            cutoff = math.floor(now - self.skew_margin_s)
            deadline = self._timer() + self.budget_s
            wrapped = False
            for _ in range(self.max_batches):
                count, wrapped = self._next_batch(cutoff)
                deleted += count
                if wrapped or self._timer() >= deadline:
                    break
            if not wrapped:
                self.next_run = now + CATCH_UP_INTERVAL_S
        except Exception as exc:  # best effort: logged, never the request's error
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
