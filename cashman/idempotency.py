"""``Idempotency-Key`` on POST (SPEC §4, Retries): a retry gets the first response.

The key is scoped to the caller (two users may pick the same key) and lives 24 h.
The first response is stored (``StoredResponse``) in the same database
transaction as the row it created, and (owner, key) is unique: of concurrent
retries exactly one inserts, and the others, refused by the constraint, replay
what it stored. So a retry creates nothing, even across workers and instances.
The request is identified by a fingerprint of its path and validated body
(amounts compared as numbers, an expense's whatever its sign): the same key with a
different request is a 422 (``idempotency_key_reused``), never a replay of the wrong
thing.

A key older than 24 h is never replayed: met again, it is deleted in the
transaction that takes its place. Other expired keys are deleted in batches, not on
every request: a run of up to ``CLEANUP_MAX_BATCHES`` batches of ``CLEANUP_BATCH``,
ending after the batch that takes it past ``CLEANUP_BUDGET_S``, before a keyed create,
at most one at a time per process. The next run is due ``CLEANUP_INTERVAL_S`` later,
or ``CATCH_UP_INTERVAL_S`` later while expired keys remain. So a process catching up
deletes thousands of expired keys a second (at most ``CLEANUP_BATCH`` x
``CLEANUP_MAX_BATCHES``; the time budget ends a run sooner on a slow database), far
above any rate of keyed creates, and the table holds about 24 h of keys plus
``CLEANUP_INTERVAL_S`` of them. On PostgreSQL a batch skips rows another process's
batch has locked, so processes cleaning at once share the work instead of repeating it.
A failed run is logged and left to the next: the create it came before goes ahead.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Response, current_app
from sqlalchemy import Connection, bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cashman import app_events, storage
from cashman.database import Database, current_database
from cashman.errors import IdempotencyKeyReusedError
from cashman.jsonio import dumps_exact
from cashman.locations import location_of
from cashman.models import IdempotencyRecord, Kind
from cashman.schemas import transaction_json

logger = logging.getLogger(__name__)

TTL = timedelta(hours=24)
# expired keys of every owner are deleted by runs at most this often per process
# (seconds), one CATCH_UP_INTERVAL_S after another while some remain; one expired key
# met by its owner's retry is ignored, and replaced, right away
CLEANUP_INTERVAL_S = 60.0
CATCH_UP_INTERVAL_S = 1.0
CLEANUP_BATCH = 1000
CLEANUP_MAX_BATCHES = 20
CLEANUP_BUDGET_S = 0.1

_TABLE = IdempotencyRecord.__table__
_COLUMNS = (_TABLE.c.id, _TABLE.c.fingerprint, _TABLE.c.status, _TABLE.c.body)
_FIND = select(*_COLUMNS, _TABLE.c.location, _TABLE.c.created_at).where(
    _TABLE.c.owner == bindparam("owner"), _TABLE.c.key == bindparam("key")
)
_INSERT = insert(_TABLE)
_DELETE_ONE = delete(_TABLE).where(_TABLE.c.id == bindparam("record_id"))
# a bounded batch: a clean-up holds the write lock no longer than an ordinary write
_DELETE_EXPIRED = delete(_TABLE).where(
    _TABLE.c.id.in_(
        select(_TABLE.c.id)
        .where(_TABLE.c.created_at < bindparam("horizon"))
        .limit(CLEANUP_BATCH)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has no row locks
        .scalar_subquery()
    )
)


@dataclass(frozen=True)
class StoredResponse:
    """A response as stored for its retries: status, JSON body text, ``Location``."""

    status: int
    body: str
    location: str | None

    @classmethod
    def created(cls, tx: storage.Created) -> StoredResponse:
        """The 201 that answers the create of ``tx`` (needs a request context)."""
        return cls(201, transaction_json(tx), location_of(tx))

    def to_response(self) -> Response:
        """The stored response, byte for byte."""
        response = Response(self.body, status=self.status, mimetype="application/json")
        if self.location:
            response.headers["Location"] = self.location
        return response


@dataclass(frozen=True)
class FirstRequest:
    """What a key remembers: the fingerprint of its first request, and the response."""

    fingerprint: str
    response: StoredResponse
    # made by an earlier request with the key (this one replays it), not by this one
    is_earlier: bool = False


def fingerprint(path: str, data: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the path and the validated body (amounts compared as numbers, with
    the sign they were sent with: what every release stores, so that any of them, old or
    new, compares a retry with a key another one stored)."""
    canonical = dumps_exact({"path": path, "body": dict(sorted(data.items()))})
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def replay(
    first: FirstRequest, request_fingerprint: str, path: str, data: Mapping[str, Any]
) -> Response:
    """The first response to this key, when that request was this one (its
    ``fingerprint``, of ``path`` and the validated ``data``); ``IdempotencyKeyReusedError``
    (422) when it was a different one.

    An expense is stored negative whichever sign it was sent with (SPEC §4), so the same
    request with the amount's other sign asks for the same expense, as 5 and 5.00 do (an
    income's amount is positive, or refused, before it gets here)."""
    same = first.fingerprint == request_fingerprint
    if not same and "amount" in data:
        same = first.fingerprint == fingerprint(path, {**data, "amount": -data["amount"]})
    if not same:
        raise IdempotencyKeyReusedError()
    if first.is_earlier:
        app_events.idempotent_replay.send(current_app._get_current_object())
    return first.response.to_response()


def create_once(
    owner: str,
    key: str,
    request_fingerprint: str,
    kind: Kind,
    description: str,
    amount: Decimal,
) -> FirstRequest:
    """Create ``owner``'s transaction unless ``key`` was used by ``owner`` within 24 h.

    Returns the first request made with ``key``: this one, whose 201 is stored with
    the row, or the earlier one (whose fingerprint ``replay`` compares). Needs a
    request context (the 201 names the new transaction's URL).
    """
    _CLEANUP.maybe_run()
    try:
        with current_database().write_connection() as connection:
            first = _find(connection, owner, key)
            if first is None:
                tx = storage.insert_transaction(connection, owner, kind, description, amount)
                first = FirstRequest(request_fingerprint, StoredResponse.created(tx))
                _remember(connection, owner, key, first, tx)
        return first
    except IntegrityError:
        # another request with this key committed first: answer as it did
        with current_database().engine.connect() as connection:
            first = _find(connection, owner, key)
        if first is None:
            raise
        return first


def forget_expired(connection: Connection, now: datetime) -> int:
    """Delete up to ``CLEANUP_BATCH`` of every owner's keys older than 24 h at ``now``
    (aware UTC); returns how many were deleted."""
    return connection.execute(_DELETE_EXPIRED, {"horizon": now - TTL}).rowcount


def _find(connection: Connection, owner: str, key: str) -> FirstRequest | None:
    """``owner``'s live record of ``key``; an expired one is deleted and is None."""
    row = connection.execute(_FIND, {"owner": owner, "key": key}).one_or_none()
    if row is None:
        return None
    if row.created_at < storage.now() - TTL:
        connection.execute(_DELETE_ONE, {"record_id": row.id})
        return None
    stored = StoredResponse(row.status, row.body, row.location)
    return FirstRequest(row.fingerprint, stored, is_earlier=True)


def _remember(
    connection: Connection, owner: str, key: str, first: FirstRequest, tx: storage.Created
) -> None:
    stored = first.response
    connection.execute(
        _INSERT,
        {
            "owner": owner,
            "key": key,
            "fingerprint": first.fingerprint,
            "status": stored.status,
            "body": stored.body,
            "location": stored.location,
            "created_at": tx.created_at,
        },
    )


class _Cleanup:
    """Runs of ``forget_expired`` on a database, due as the module docstring says, in this
    process never two at once, never making a request wait for another's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: weakref.WeakKeyDictionary[Database, float] = weakref.WeakKeyDictionary()

    def maybe_run(self) -> None:
        """Delete batches of expired keys if a run is due: each batch its own write
        transaction, so other writers go between them. Never raises for a database
        error (logged: housekeeping must not fail the request it runs before)."""
        database, now = current_database(), time.monotonic()
        if now < self._due.get(database, 0.0) or not self._lock.acquire(blocking=False):
            return
        due = now + CLEANUP_INTERVAL_S
        try:
            for _ in range(CLEANUP_MAX_BATCHES):
                with database.write_connection() as connection:
                    deleted = forget_expired(connection, storage.now())
                if deleted < CLEANUP_BATCH:
                    break
                if time.monotonic() - now > CLEANUP_BUDGET_S:
                    due = now + CATCH_UP_INTERVAL_S  # some may remain
                    break
            else:
                due = now + CATCH_UP_INTERVAL_S
        except SQLAlchemyError as exc:
            logger.warning("idempotency clean-up failed (%s)", type(exc).__name__)
        finally:
            self._due[database] = due
            self._lock.release()


_CLEANUP = _Cleanup()
