"""JSON Web Key Set cache (RFC 7517 §5): one fetch at a time; a failed refresh keeps the old keys.

One ``JWKSCache`` per issuer, shared by all threads of a process. The rules
are SPEC §3 "JWKS handling":

* fetch with ``requests``: no redirects, connect/read timeouts, a total
  deadline checked while the body streams in (a server trickling a byte at a
  time cannot hold a worker), a 1 MiB cap, status 200 only, an explicit
  ``User-Agent``;
* the fetch asks for ``Accept-Encoding: identity``, but a CDN in front of the
  issuer may compress anyway, and refusing that would take the API down: a
  ``gzip`` or ``deflate`` body is decoded incrementally, with the 1 MiB cap on
  both the bytes received and the bytes decoded (a decompression bomb is
  refused as oversized after at most 1 MiB of output); any other
  ``Content-Encoding`` is a failed fetch;
* at most one fetch in flight; on a cold cache every caller waits for it,
  with usable keys the others keep verifying while one thread refreshes;
* with ``refresh_in_background`` (the production default, see
  ``AuthSettings.jwks_background_refresh``) a TTL refresh while usable keys
  exist runs in a short-lived daemon thread that holds the same lock, so no
  request waits for it, not even the one that noticed the TTL; the thread is
  started only when the throttle allows an attempt, so there is at most one,
  and it lives at most one fetch (bounded by the deadline). Without it (the
  test kit's choice, for exact fetch counts) that one request fetches itself;
  callers that waited while an attempt ran share its outcome and never start
  one of their own in turn (so an issuer that hangs costs one timeout per
  attempt, not one per waiting request, even with a tiny ``min_refresh``);
* attempts at least ``min_refresh`` seconds apart, whatever caused them (TTL
  expiry, an unknown ``kid``, a failure): random ``kid``s cannot flood the issuer;
* a response that is not a usable key set never replaces good keys, which
  stay usable until ``max_stale`` seconds after the last successful fetch;
* a refresh keeps the ``SigningKey`` object of every JWK whose public members
  did not change, so key objects are built once per key, not once per fetch,
  and verified tokens cached against them stay valid.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPException

import requests
import urllib3

from auth.errors import JwksUnavailableError
from auth.keys import (
    SigningKey,
    UnusableKeyError,
    build_signing_key,
    public_fingerprint,
    unusable_key,
)
from auth.settings import ASYMMETRIC_ALGORITHMS

logger = logging.getLogger(__name__)

USER_AGENT = "cashman-jwks/0.1"
MAX_JWKS_BYTES = 1024 * 1024
# zlib window bits per Content-Encoding: 31 = gzip only; 15|32 = zlib or gzip header (servers
# that label a gzip body "deflate" exist). RFC 9110 §8.4.1.3: x-gzip is gzip.
DECODABLE_ENCODINGS = {"identity": None, "gzip": 31, "x-gzip": 31, "deflate": 15 | 32}


class JwksFetchError(Exception):
    """A fetch attempt failed; the message is for the log (URL and status, never a token)."""


@dataclass(frozen=True)
class KeySet:
    """An immutable snapshot: swapped atomically, so readers never need the lock."""

    keys: Mapping[str, tuple[SigningKey, ...]] = field(default_factory=dict)
    fetched_at: float = -math.inf


class JWKSCache:
    """The signing keys of one issuer, fetched lazily and refreshed under the SPEC's limits."""

    def __init__(
        self,
        url: str,
        ttl: float = 600,
        min_refresh: float = 30,
        max_stale: float = 86400,
        *,
        timeout: float | None = None,
        algorithms: Iterable[str] = ASYMMETRIC_ALGORITHMS,
        connect_timeout: float = 3.05,
        read_timeout: float = 5.0,
        deadline: float = 10.0,
        max_bytes: int = MAX_JWKS_BYTES,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        refresh_in_background: bool = False,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.max_stale = max_stale
        self.algorithms = tuple(algorithms)
        if timeout is not None:  # one value for both, as requests' own ``timeout=``
            connect_timeout = read_timeout = timeout
        # SPEC §3: connect and read timeouts of at most 5 s each, whatever the caller asks.
        self.connect_timeout = min(connect_timeout, 5.0)
        self.read_timeout = min(read_timeout, 5.0)
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.session = session or requests.Session()
        self.clock = clock
        self.refresh_in_background = refresh_in_background
        self.fetch_count = 0
        self._keyset = KeySet()
        self._last_attempt = -math.inf
        self._attempts_done = 0  # attempts finished: a waiter compares it before and after
        self._lock = threading.Lock()

    def lookup(self, kid: str) -> tuple[SigningKey, ...]:
        """Every JWK with ``kid`` (empty if none), refreshing first when the SPEC allows it.

        Raises ``JwksUnavailableError`` when there is no usable key set at all.
        """
        attempts_seen = self._attempts_done  # read first: an attempt may end right after
        keyset = self._keyset
        now = self.clock()
        age = now - keyset.fetched_at
        if kid in keyset.keys and age < self.ttl and age <= self.max_stale:
            return keyset.keys[kid]
        is_usable = age <= self.max_stale
        if is_usable and kid in keyset.keys:
            # Stale but usable: refresh if nobody else is, never wait for it.
            if self._lock.acquire(blocking=False):
                self._refresh_stale()
        else:
            # Cold, too stale, or an unknown kid: wait for the one fetch in flight. If an
            # attempt finished while this thread waited, its outcome is this thread's too.
            with self._lock:
                if self._attempts_done == attempts_seen and (
                    kid not in self._keyset.keys or not self._is_usable(self._keyset)
                ):
                    self._refresh_if_allowed()
        keyset = self._keyset
        if not self._is_usable(keyset):
            raise JwksUnavailableError(self.retry_after(), "no usable JWKS")
        return keyset.keys.get(kid, ())

    def is_current(self, key: SigningKey) -> bool:
        """True if ``key`` is still the one entry for its kid (what a cached verification needs)."""
        return self.lookup(key.kid) == (key,)

    def retry_after(self) -> float:
        """Seconds until the next fetch attempt is allowed (at least 1)."""
        return max(1.0, self._last_attempt + self.min_refresh - self.clock())

    def _is_usable(self, keyset: KeySet) -> bool:
        return bool(keyset.keys) and self.clock() - keyset.fetched_at <= self.max_stale

    def _refresh_stale(self) -> None:
        """Lock held: refresh in a background thread (which then releases it), else here."""
        if self.refresh_in_background and self._start_background_refresh():
            return
        try:
            self._refresh_if_allowed()
        finally:
            self._lock.release()

    def _start_background_refresh(self) -> bool:
        """Hand the held lock to a thread that refreshes, then releases it; False if not started.

        Not started when the throttle forbids an attempt anyway (so a failing issuer does not
        cost a thread per request), nor when the interpreter cannot start one.
        """
        if self.clock() - self._last_attempt < self.min_refresh:
            return False

        def refresh() -> None:
            try:
                self._refresh_if_allowed()
            finally:
                self._lock.release()

        thread = threading.Thread(target=refresh, name="jwks-refresh", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down, or no thread left
            return False
        return True

    def _refresh_if_allowed(self) -> None:
        """Fetch once if ``min_refresh`` has passed since the last attempt (lock held)."""
        now = self.clock()
        if now - self._last_attempt < self.min_refresh:
            return
        self._last_attempt = now
        self.fetch_count += 1
        try:
            keys = self._parse(self._fetch())
        except JwksFetchError as exc:
            logger.warning("JWKS fetch from %s failed: %s", self.url, exc)
            return
        finally:
            self._attempts_done += 1
        self._keyset = KeySet(keys=keys, fetched_at=self.clock())
        logger.info("JWKS fetched from %s: %d key(s)", self.url, len(keys))

    def _fetch(self) -> bytes:
        """GET the key set under the timeouts, deadline and size cap."""
        started = time.monotonic()
        try:
            response = self.session.get(
                self.url,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
                stream=True,
                # identity: nothing to decode; a server that compresses anyway is decoded
                # under the same cap (see the module docstring).
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": "application/json",
                    "Accept-Encoding": "identity",
                },
            )
        except requests.RequestException as exc:
            raise JwksFetchError(type(exc).__name__) from None
        try:
            if response.status_code != 200:
                raise JwksFetchError(f"HTTP status {response.status_code}")
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in DECODABLE_ENCODINGS:
                raise JwksFetchError(f"unsupported Content-Encoding {encoding[:40]!r}")
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                raise JwksFetchError("response larger than the cap")
            wbits = DECODABLE_ENCODINGS[encoding]
            decoder = None if wbits is None else zlib.decompressobj(wbits=wbits)
            return self._read_body(response, started, decoder)
        finally:
            response.close()

    def _read_body(
        self, response: requests.Response, started: float, decoder: zlib._Decompress | None
    ) -> bytes:
        """The body, decoded if ``decoder``; both the wire and decoded sizes are capped."""
        body = bytearray()
        received = 0
        raw = response.raw
        while True:
            remaining = self.deadline - (time.monotonic() - started)
            if remaining <= 0:
                raise JwksFetchError("total deadline exceeded")
            _set_socket_timeout(raw, min(self.read_timeout, remaining))
            try:
                # read1: return whatever arrived, so the deadline is checked between bytes.
                chunk = raw.read1(65536, decode_content=False)
            except (urllib3.exceptions.HTTPError, HTTPException, OSError, ValueError) as exc:
                raise JwksFetchError(type(exc).__name__) from None
            if not chunk:
                if decoder is not None and (not decoder.eof or decoder.unused_data):
                    raise JwksFetchError("truncated or trailing compressed data")
                return bytes(body)
            received += len(chunk)
            if received > self.max_bytes:
                raise JwksFetchError("response larger than the cap")
            if decoder is None:
                body += chunk
            else:
                self._decode(decoder, chunk, body)
            if len(body) > self.max_bytes:
                raise JwksFetchError("response larger than the cap")

    def _decode(self, decoder: zlib._Decompress, chunk: bytes, body: bytearray) -> None:
        """Append ``chunk`` decoded to ``body``, never producing more than one byte past the cap."""
        pending = chunk
        while pending:
            try:
                # max_length bounds each step's output: a bomb stops at cap + 1 bytes.
                body += decoder.decompress(pending, self.max_bytes + 1 - len(body))
            except zlib.error:
                raise JwksFetchError("corrupt compressed data") from None
            if len(body) > self.max_bytes:
                raise JwksFetchError("response larger than the cap (decompressed)")
            pending = decoder.unconsumed_tail

    def _parse(self, body: bytes) -> dict[str, tuple[SigningKey, ...]]:
        """The usable keys of a JWKS document; an empty or invalid set is a failure."""
        try:
            document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise JwksFetchError("not JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise JwksFetchError("not a JSON object with a `keys` array")
        current = {key.fingerprint: key for group in self._keyset.keys.values() for key in group}
        keys: dict[str, list[SigningKey]] = {}
        skipped_kids: list[str] = []
        skipped = 0
        for item in document["keys"]:
            if not isinstance(item, dict):
                skipped += 1
                continue
            try:
                key = current.get(public_fingerprint(item)) or build_signing_key(
                    item, self.algorithms
                )
            except UnusableKeyError:
                skipped += 1
                if isinstance(item.get("kid"), str):
                    skipped_kids.append(item["kid"])
                continue
            keys.setdefault(key.kid, []).append(key)
        # SPEC §3 step 3 wants exactly one entry per kid: a skipped entry (an `oct` secret,
        # a small RSA key) sharing a usable key's kid makes that kid ambiguous, not usable.
        for kid in skipped_kids:
            if kid in keys:
                keys[kid].append(unusable_key(kid))
        if skipped:
            logger.info("JWKS from %s: skipped %d unusable key(s)", self.url, skipped)
        if not any(key.verifiers for group in keys.values() for key in group):
            raise JwksFetchError("no usable key in the set")
        return {kid: tuple(group) for kid, group in keys.items()}


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _set_socket_timeout(raw: object, timeout: float) -> None:
    """Bound the next read by the time left (best effort: real sockets only)."""
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(timeout, 0.001))
