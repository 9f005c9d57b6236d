"""``Idempotency-Key`` on POST: a retry gets the first response and creates nothing.

The key is scoped to the caller (two users may pick the same key) and lives
24 h. The request is identified by a fingerprint of its path and validated
body, so a key sent again with a different body is refused with a 422
(``idempotency_key_reused``) instead of silently replaying the wrong thing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from flask import Response

from cashman.errors import IdempotencyKeyReusedError
from cashman.jsonio import dumps_exact
from cashman.models import IdempotencyRecord

KEY_HEADER = "Idempotency-Key"


def fingerprint(path: str, data: Mapping[str, Any]) -> str:
    """SHA-256 of the path and the validated body (amounts compared as numbers)."""
    canonical = dumps_exact({"path": path, "body": dict(sorted(data.items()))})
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def replay(record: IdempotencyRecord, expected_fingerprint: str) -> Response:
    """The stored first response, byte for byte; a different request is a 422."""
    if record.fingerprint != expected_fingerprint:
        raise IdempotencyKeyReusedError()
    response = Response(record.body, status=record.status, mimetype="application/json")
    if record.location:
        response.headers["Location"] = record.location
    return response
