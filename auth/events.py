"""What ``auth`` lets an application observe, without ``auth`` knowing who listens.

An ``AuthObserver`` receives one call per event (SPEC §6 "Metrics"). This base
class does nothing; an application subclasses it, overrides the events it counts
(e.g. with Prometheus counters) and passes the instance to ``Auth(...,
observer=...)`` or ``TokenVerifier(..., observer=...)``. Calls are made on the
request's thread (a JWKS fetch: on the thread that fetched, possibly a background
refresh), so an implementation must be thread-safe, fast, and must not raise: an
exception from an observer would reach the request. Each event fires once per
occurrence:

- ``authentication(outcome, scheme)``: once per request that reached
  ``requires_auth``/``requires_scope``: ``"success"``, or the SPEC ``code`` of the
  refusal (``invalid_token``, ``insufficient_scope``, ``invalid_dpop_proof``...);
  ``scheme`` is ``"Bearer"``, ``"DPoP"`` or None (no or an unsupported scheme);
- ``jwks_fetch(issuer, succeeded, fetched_at)``: once per fetch attempt of an issuer's
  JWKS; ``fetched_at`` is the wall-clock time (Unix seconds) of the attempt's end, so
  the last successful one gives the age of the key set in use;
- ``token_cache_hit()``: once per access token served by the verified-token cache;
- ``dpop_replay_refused()``: once per DPoP proof refused because its (``jkt``, ``jti``)
  was already accepted.
"""

from __future__ import annotations


class AuthObserver:
    """No-op observer: override what you count. Methods must be thread-safe and never raise."""

    def authentication(self, outcome: str, scheme: str | None) -> None:
        """A guarded request was answered: ``"success"`` or the SPEC ``code`` it got."""

    def jwks_fetch(self, issuer: str, succeeded: bool, fetched_at: float) -> None:
        """One JWKS fetch attempt for ``issuer`` ended (``fetched_at``: Unix seconds)."""

    def token_cache_hit(self) -> None:
        """An access token was served by the verified-token cache (no signature check)."""

    def dpop_replay_refused(self) -> None:
        """A DPoP proof was refused as a replay (RFC 9449 §11.1)."""


NO_OBSERVER = AuthObserver()
"""The default: every event is a no-op method call."""
