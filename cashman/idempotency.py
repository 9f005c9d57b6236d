"""``Idempotency-Key`` on POST (SPEC §4, Retries): a retry gets the first response.

The key is scoped to the caller (two users may pick the same key) and lives 24 h.
The first response is stored (``StoredResponse``) in the same database
transaction as the row it created, and (owner, key) is unique: of concurrent
retries exactly one inserts, and the others, refused by the constraint, replay
what it stored. So a retry creates nothing, even across workers and instances.
The request is identified by a fingerprint of its path and validated body
(amounts compared as numbers): the same key with a different request is a 422
(``idempotency_key_reused``), never a replay of the wrong thing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from flask import Response, current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cashman import app_events, storage
from cashman.database import current_database
from cashman.errors import IdempotencyKeyReusedError
from cashman.jsonio import dumps_exact
from cashman.locations import location_of
from cashman.models import IdempotencyRecord, Kind, Transaction
from cashman.schemas import TransactionOut

TTL = timedelta(hours=24)


@dataclass(frozen=True)
class StoredResponse:
    """A response as stored for its retries: status, JSON body text, ``Location``."""

    status: int
    body: str
    location: str | None

    @classmethod
    def created(cls, tx: Transaction) -> StoredResponse:
        """The 201 that answers the create of ``tx`` (needs a request context)."""
        return cls(201, dumps_exact(TransactionOut().dump(tx)), location_of(tx))

    @classmethod
    def of(cls, record: IdempotencyRecord) -> StoredResponse:
        """The response a stored record holds."""
        return cls(record.status, record.body, record.location)

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
    """SHA-256 (hex) of the path and the validated body (amounts compared as numbers)."""
    canonical = dumps_exact({"path": path, "body": dict(sorted(data.items()))})
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def replay(first: FirstRequest, expected_fingerprint: str) -> Response:
    """The first response to this key; ``IdempotencyKeyReusedError`` (422) when the
    first request was a different one."""
    if first.fingerprint != expected_fingerprint:
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
    try:
        with current_database().writing() as session:
            _forget_expired(session, owner)
            record = _record(session, owner, key)
            is_earlier = record is not None
            if record is None:
                tx = storage.new_transaction(owner, kind, description, amount)
                session.add(tx)
                session.flush()  # the id, which the body and Location name
                record = _remember(owner, key, request_fingerprint, tx)
                session.add(record)
            first = FirstRequest(record.fingerprint, StoredResponse.of(record), is_earlier)
        return first
    except IntegrityError:
        # another request with this key committed first: answer as it did
        with current_database().reading() as session:
            record = _record(session, owner, key)
        if record is None:
            raise
        return FirstRequest(record.fingerprint, StoredResponse.of(record), is_earlier=True)


def _remember(owner: str, key: str, request_fingerprint: str, tx: Transaction) -> IdempotencyRecord:
    stored = StoredResponse.created(tx)
    return IdempotencyRecord(
        owner=owner,
        key=key,
        fingerprint=request_fingerprint,
        status=stored.status,
        body=stored.body,
        location=stored.location,
        created_at=tx.created_at,
    )


def _forget_expired(session: Session, owner: str) -> None:
    """Forget ``owner``'s keys older than 24 h (lazily, on that owner's next keyed POST)."""
    horizon = storage.now() - TTL
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.owner == owner, IdempotencyRecord.created_at < horizon
        )
    )


def _record(session: Session, owner: str, key: str) -> IdempotencyRecord | None:
    return session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.owner == owner, IdempotencyRecord.key == key
        )
    ).one_or_none()
