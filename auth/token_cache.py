"""Verified-token cache (SPEC §3): a repeat of an already verified token skips the signature
check.

Keyed by the SHA-256 of the whole token (the token itself is never kept), a
bounded LRU shared by all threads. An entry never outlives the token's ``exp``
plus the leeway (the same bound the uncached path applies) nor the JWKS key
that verified it: a hit is only served while that exact key object is still
the key set's entry for its ``kid``. A refresh keeps the object of a JWK whose
public members did not change, so its tokens stay cached; a key dropped or
changed on refresh drops its tokens. Only successes are stored.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from auth.keyset import SigningKey


@dataclass(frozen=True)
class CachedToken:
    """What a hit needs: the claims and the two limits on their validity."""

    claims: dict[str, Any]
    expires_at: float
    key: SigningKey
    issuer: str


class TokenCache:
    """A thread-safe LRU of verified tokens; ``size`` 0 disables it."""

    def __init__(self, size: int) -> None:
        """At most ``size`` entries (``AUTH_TOKEN_CACHE_SIZE``); 0 disables the cache."""
        self.size = size
        self._entries: OrderedDict[bytes, CachedToken] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def digest(token: str) -> bytes:
        """The cache key: the 32-byte SHA-256 of the whole (ASCII) token."""
        return hashlib.sha256(token.encode("ascii")).digest()

    def get(self, digest: bytes, now: float) -> CachedToken | None:
        """The entry for ``digest`` unless expired at ``now`` (seconds since the epoch)."""
        if self.size <= 0:
            return None
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if now >= entry.expires_at:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry

    def put(self, digest: bytes, entry: CachedToken) -> None:
        """Remember a successful verification, evicting the least recently used."""
        if self.size <= 0:
            return
        with self._lock:
            self._entries[digest] = entry
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def discard(self, digest: bytes) -> None:
        """Forget one entry (its key left the JWKS)."""
        with self._lock:
            self._entries.pop(digest, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
