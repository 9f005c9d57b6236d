"""JSON Web Key Set cache (RFC 7517 §5): one fetch at a time; a failed refresh keeps the old keys.

One ``JWKSCache`` per issuer, shared by all threads of a process: the cache policy
of SPEC §3 "JWKS handling" alone (the GET is ``auth.jwks_fetch``, the keys
``auth.keyset``). At most one fetch in flight: a cold cache makes every caller
wait for it, and callers that waited share its outcome instead of starting their
own (a hanging issuer costs one timeout per attempt, not one per request).
Attempts are ``min_refresh_s`` apart whatever caused them (TTL, unknown ``kid``,
failure), so random ``kid``s cannot flood the issuer. A response that is not a
usable key set never replaces good keys, usable until ``max_stale_s`` after the
last successful fetch. An unknown ``kid`` while usable keys are held waits for a fetch
in flight only until that fetch is ``unknown_kid_wait_s`` old, then is a 503
(``Retry-After`` 1 s): a ``kid`` is the client's to choose, so with a slow issuer a
flood of random ones would otherwise hold every thread of a worker for the whole
fetch, ``/ping`` included (SPEC §6). An issuer answering normally is waited for; once a
fetch is slow, such requests are answered at once. A key set that is cold or too stale
still makes every caller wait, nothing being servable without it. With
``refresh_in_background`` (production) a TTL refresh while keys are usable runs in one
short-lived daemon thread holding the lock, so no request waits; without it (the test
kit, for exact fetch counts) the request that noticed the TTL fetches.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from auth.errors import JwksUnavailableError
from auth.jwks_fetch import JWKSFetcher, JwksFetchError
from auth.keyset import KeySetError, SigningKey, parse_jwk_set
from auth.settings import ASYMMETRIC_ALGORITHMS, BOUNDS_S

logger = logging.getLogger(__name__)

# how old a fetch in flight may be for an unknown kid to wait for it (seconds): an issuer
# answering normally takes a fraction of it
UNKNOWN_KID_WAIT_S = 1.0
# the Retry-After of an unknown kid not waiting for a slow fetch: it ends, or is given
# up on, soon after
SLOW_FETCH_RETRY_S = 1.0


@dataclass(frozen=True)
class _Snapshot:
    """Keys and when they were fetched: swapped atomically, so readers never need the lock."""

    keys: Mapping[str, tuple[SigningKey, ...]] = field(default_factory=dict)
    fetched_at: float = -math.inf


class JWKSCache:
    """The signing keys of one issuer, fetched lazily and refreshed under the SPEC's rules."""

    def __init__(
        self,
        url: str,
        *,
        ttl_s: float = 600,
        min_refresh_s: float = 30,
        max_stale_s: float = 86400,
        algorithms: Iterable[str] = ASYMMETRIC_ALGORITHMS,
        fetcher: JWKSFetcher | None = None,
        clock: Callable[[], float] = time.monotonic,
        refresh_in_background: bool = False,
        on_fetch: Callable[[bool], None] | None = None,
        unknown_kid_wait_s: float = UNKNOWN_KID_WAIT_S,
    ) -> None:
        """The key set at ``url``, built for ``algorithms`` (JWS names).

        ``ttl_s``, ``min_refresh_s`` and ``max_stale_s`` are the seconds of
        ``JWKS_CACHE_TTL``, ``JWKS_MIN_REFRESH_INTERVAL`` and ``JWKS_MAX_STALE`` (SPEC
        §2); a value outside their bounds raises ``ValueError``. ``fetcher`` does the
        HTTP GET (default: a ``JWKSFetcher`` with the SPEC's limits); ``clock`` is
        monotonic seconds. ``on_fetch(succeeded)`` is called once after each fetch
        attempt (``auth.events``); it must not raise. ``unknown_kid_wait_s``: how old in
        seconds a fetch in flight may be for an unknown ``kid`` to wait for it while usable
        keys are held.
        """
        longest = BOUNDS_S["JWKS_MIN_REFRESH_INTERVAL"][1]  # the throttle's own bound
        if not 0 <= unknown_kid_wait_s <= longest:  # NaN fails too
            raise ValueError(
                f"unknown_kid_wait_s must be 0 to {longest:g} s, not {unknown_kid_wait_s}"
            )
        for name, value, variable in (
            ("ttl_s", ttl_s, "JWKS_CACHE_TTL"),
            ("min_refresh_s", min_refresh_s, "JWKS_MIN_REFRESH_INTERVAL"),
            ("max_stale_s", max_stale_s, "JWKS_MAX_STALE"),
        ):
            low, high = BOUNDS_S[variable]
            if not low <= value <= high:  # NaN fails too
                raise ValueError(f"{name} must be {low:g} to {high:g} s ({variable}), not {value}")
        self.url = url
        self.ttl_s = ttl_s
        self.min_refresh_s = min_refresh_s
        self.max_stale_s = max_stale_s
        self.algorithms = tuple(algorithms)
        self.fetcher = fetcher or JWKSFetcher()
        self.clock = clock
        self.refresh_in_background = refresh_in_background
        self.on_fetch = on_fetch
        self.unknown_kid_wait_s = unknown_kid_wait_s
        self._snapshot = _Snapshot()
        self._last_attempt = -math.inf
        self._attempts_done = 0  # attempts finished: a waiter compares it before and after
        self._fetch_started: float | None = None  # the clock when the fetch in flight began
        self._lock = threading.Lock()

    def lookup(self, kid: str) -> tuple[SigningKey, ...]:
        """Every JWK with ``kid`` (empty if none), refreshing first when the SPEC allows it.

        Raises ``JwksUnavailableError`` when there is no usable key set at all, or when
        ``kid`` is unknown and a fetch in flight is older than ``unknown_kid_wait_s``
        (``Retry-After`` ``SLOW_FETCH_RETRY_S``).
        """
        attempts_seen = self._attempts_done  # read first: an attempt may end right after
        snapshot = self._snapshot
        age = self.clock() - snapshot.fetched_at
        if kid in snapshot.keys and age < self.ttl_s and age <= self.max_stale_s:
            return snapshot.keys[kid]
        if kid in snapshot.keys and age <= self.max_stale_s:
            # Past the TTL but usable: refresh if nobody else is, never wait for it.
            if self._lock.acquire(blocking=False):
                self._refresh_stale()
        else:
            # Cold, too stale, or an unknown kid: wait for the one fetch in flight (an
            # unknown kid beside usable keys only while that fetch is young). If an
            # attempt finished while this thread waited, its outcome is this thread's too.
            if self._acquire_for(snapshot):
                try:
                    if self._attempts_done == attempts_seen and (
                        kid not in self._snapshot.keys or not self._is_usable(self._snapshot)
                    ):
                        self._refresh_if_allowed()
                finally:
                    self._lock.release()
            elif self._attempts_done == attempts_seen and kid not in self._snapshot.keys:
                # unless the fetch ended as this caller gave up: its outcome answers
                raise JwksUnavailableError(SLOW_FETCH_RETRY_S, "JWKS fetch in flight is slow")
        snapshot = self._snapshot
        if not self._is_usable(snapshot):
            raise JwksUnavailableError(self.retry_after(), "no usable JWKS")
        return snapshot.keys.get(kid, ())

    def is_current(self, key: SigningKey) -> bool:
        """True if ``key`` is still the one entry for its kid (what a cached verification needs)."""
        return self.lookup(key.kid) == (key,)

    def has_usable_keys(self) -> bool:
        """Whether keys fetched no longer than ``max_stale_s`` ago are held; never fetches.

        The cheap half of readiness (SPEC §6 ``/readyz``).
        """
        return self._is_usable(self._snapshot)

    def key_set_age_s(self) -> float | None:
        """Seconds since the last successful fetch, or None before the first one."""
        fetched_at = self._snapshot.fetched_at
        return None if fetched_at == -math.inf else self.clock() - fetched_at

    def may_fetch_now(self) -> bool:
        """Whether ``JWKS_MIN_REFRESH_INTERVAL`` allows a fetch attempt right now."""
        return self.clock() - self._last_attempt >= self.min_refresh_s

    def ensure_keys(self) -> bool:
        """Usable keys now, fetching once first when there are none and the throttle allows.

        For readiness ("fetched, or fetchable now"): at most one attempt, under the same
        lock and throttle as requests' fetches (a probe cannot flood the issuer), bounded
        by the fetch deadline. Never raises.
        """
        if self.has_usable_keys():
            return True
        with self._lock:
            if not self._is_usable(self._snapshot):
                self._refresh_if_allowed()
        return self.has_usable_keys()

    def retry_after(self) -> float:
        """Seconds until the next fetch attempt is allowed (at least 1)."""
        return max(1.0, self._last_attempt + self.min_refresh_s - self.clock())

    def _acquire_for(self, snapshot: _Snapshot) -> bool:
        """Take the lock for a caller whose ``kid`` is not in ``snapshot``; False if not taken.

        Waits as long as it takes when ``snapshot`` is not usable; else until a fetch in
        flight is ``unknown_kid_wait_s`` old, or up to that long when the lock is held
        without a fetch (a throttle check, a hand-over: microseconds). The fetch's age is
        on ``clock``, the wait on the real one: a test's frozen clock never ages a fetch.
        """
        if not self._is_usable(snapshot):
            return self._lock.acquire()
        started = self._fetch_started
        if started is None:
            return self._lock.acquire(timeout=self.unknown_kid_wait_s)
        until_slow = started + self.unknown_kid_wait_s - self.clock()
        if until_slow > 0:
            return self._lock.acquire(timeout=until_slow)
        return self._lock.acquire(blocking=False)

    def _is_usable(self, snapshot: _Snapshot) -> bool:
        return bool(snapshot.keys) and self.clock() - snapshot.fetched_at <= self.max_stale_s

    def _refresh_stale(self) -> None:
        """Lock held: refresh in a background thread (which then releases it), else here."""
        if not (self.refresh_in_background and self._start_background_refresh()):
            self._refresh_and_release()

    def _start_background_refresh(self) -> bool:
        """Hand the held lock to a thread that refreshes, then releases it; False if not started
        (the throttle forbids an attempt anyway, or no thread can start)."""
        if self.clock() - self._last_attempt < self.min_refresh_s:
            return False
        thread = threading.Thread(
            target=self._refresh_and_release, name="jwks-refresh", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down, or no thread left
            return False
        return True

    def _refresh_and_release(self) -> None:
        try:
            self._refresh_if_allowed()
        finally:
            self._lock.release()

    def _refresh_if_allowed(self) -> None:
        """Fetch once if ``min_refresh_s`` has passed since the last attempt (lock held)."""
        now = self.clock()
        if now - self._last_attempt < self.min_refresh_s:
            return
        self._last_attempt = now
        known = (key for group in self._snapshot.keys.values() for key in group)
        succeeded = False
        self._fetch_started = now
        try:
            keys = parse_jwk_set(self.fetcher.fetch(self.url), self.algorithms, known)
            self._snapshot = _Snapshot(keys=keys, fetched_at=self.clock())
            succeeded = True
        except (JwksFetchError, KeySetError) as exc:
            logger.warning("JWKS fetch from %s failed: %s", self.url, exc)
        finally:
            self._fetch_started = None
            self._attempts_done += 1
        if succeeded:
            logger.info("JWKS fetched from %s: %d key(s)", self.url, len(keys))
        if self.on_fetch is not None:
            self.on_fetch(succeeded)
