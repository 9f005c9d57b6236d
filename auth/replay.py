"""The DPoP ``jti`` replay store (RFC 9449 §11.1, SPEC §3a step 5): interface and an
in-process implementation.

A proof is identified by (``jkt``, ``jti``): the ``jti`` is only unique per client key,
and keying by ``jkt`` means nobody can burn another client's ``jti`` with a key of their
own. Each record lives until its ``expires_at`` (the proof's ``iat`` + max age + leeway);
past it the ``iat`` check refuses the proof anyway, so the record may go.

``MemoryReplayStore`` serves the test kit and single-process uses. A deployment with
several workers or instances needs a store they all share (the application's database);
a store that cannot answer raises ``ReplayStoreUnavailableError``, and the proof is then
refused with a 503, never accepted unchecked.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Protocol

DEFAULT_RETRY_AFTER_S = 5.0


class ReplayStoreUnavailableError(Exception):
    """The store cannot tell whether a proof was seen (unreachable, full, failing).

    ``retry_after`` is a hint in seconds for the 503's ``Retry-After``.
    """

    def __init__(self, reason: str, retry_after: float = DEFAULT_RETRY_AFTER_S) -> None:
        """``reason``: for the server log only; ``retry_after``: seconds (SPEC §3a step 5)."""
        super().__init__(reason)
        self.retry_after = retry_after


class ReplayStore(Protocol):
    """Remembers accepted proofs until they expire; shared by whoever must refuse replays."""

    def record(self, jkt: str, jti: str, expires_at: float) -> bool:
        """Record (``jkt``, ``jti``) until ``expires_at`` (Unix seconds).

        Return True when it was recorded now, False when an unexpired record of it already
        exists (a replay). Atomic: of two concurrent calls with the same pair, one wins.
        Raise ``ReplayStoreUnavailableError`` when the store cannot answer.
        """
        ...


class MemoryReplayStore:
    """A thread-safe in-process ``ReplayStore``, bounded to ``max_entries`` records.

    Expired records are dropped as time passes (a heap ordered by expiry, so each insert
    costs O(log n)). Unexpired records are never evicted to make room: that would let the
    evicted proofs be replayed, so a full store raises ``ReplayStoreUnavailableError``
    instead (the request gets a 503, never an unchecked acceptance). Only for one
    process: workers and instances do not see each other's records.
    """

    def __init__(
        self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.time
    ) -> None:
        """``max_entries`` >= 1; ``clock`` gives Unix seconds (``time.time``).
        Raises ``ValueError`` otherwise."""
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []

    def record(self, jkt: str, jti: str, expires_at: float) -> bool:
        """See ``ReplayStore.record``.
        Raises ``ReplayStoreUnavailableError`` when full of live records."""
        key = (jkt, jti)
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            held = self._expiry.get(key)
            if held is not None and held >= now:
                return False
            if len(self._expiry) >= self.max_entries:
                raise ReplayStoreUnavailableError("in-process replay store is full")
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return True

    def __len__(self) -> int:
        """Records held now, expired ones not yet dropped included."""
        with self._lock:
            return len(self._expiry)

    def _drop_expired(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] < now:
            expires_at, key = heapq.heappop(heap)
            # a key recorded again after expiring has a newer heap entry: keep that one
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]
