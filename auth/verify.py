"""Access-token verification: the pipeline of SPEC §3, step by step.

``TokenVerifier.verify(token)`` returns the verified claims or raises an
``AuthError``. Each step is one call into the module that owns its rules:
``auth.jws`` (a compact JWS, the JOSE header), ``auth.claims`` (the issuer
that selects a JWKS, then every claim), ``auth.jwks`` and ``auth.keyset`` (the
issuer's keys, the one key for ``kid`` and ``alg``). Keys come only from the
configured issuers' JWKS (RFC 8725 §3.10). A repeat of a verified token is
served by ``auth.token_cache`` while its key is still the JWKS entry.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from auth.bearer import MAX_TOKEN_LENGTH
from auth.claims import check_binding, check_claims, check_cnf_jkt, check_iss, check_no_cnf
from auth.errors import InvalidTokenError
from auth.events import NO_OBSERVER, AuthObserver
from auth.jwks import JWKSCache
from auth.jwks_fetch import JWKSFetcher
from auth.jws import check_access_token_header, decode_json_segment, parse_jws
from auth.keyset import select_key
from auth.settings import AuthSettings
from auth.token_cache import CachedToken, TokenCache

HEADER_MEMO_SIZE = 256


class TokenVerifier:
    """Verifies Bearer access tokens against the configured issuers' JWKS."""

    def __init__(
        self,
        settings: AuthSettings,
        session: requests.Session | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        observer: AuthObserver = NO_OBSERVER,
    ) -> None:
        """One ``JWKSCache`` per configured issuer, sharing ``session`` (a new one if None).

        ``clock``: seconds since the epoch, for the time claims; ``monotonic``: seconds,
        for the JWKS cache's TTL and throttle; ``observer`` hears of JWKS fetches and
        verified-token cache hits (``auth.events``). Raises nothing for valid ``settings``.
        """
        self.settings = settings
        self.clock = clock
        self.observer = observer
        fetcher = JWKSFetcher(session)
        self.jwks: dict[str, JWKSCache] = {
            issuer: JWKSCache(
                settings.jwks_urls[issuer],
                ttl_s=settings.jwks_cache_ttl,
                min_refresh_s=settings.jwks_min_refresh_interval,
                max_stale_s=settings.jwks_max_stale,
                algorithms=settings.auth_algorithms,
                fetcher=fetcher,
                clock=monotonic,
                refresh_in_background=settings.jwks_background_refresh,
                on_fetch=functools.partial(self._fetched, issuer),
            )
            for issuer in settings.issuers
        }
        self.token_cache = TokenCache(settings.token_cache_size)
        self._header_memo: dict[str, Mapping[str, Any]] = {}

    def verify(self, token: str, *, bound: bool = False) -> dict[str, Any]:
        """The claims of a valid access token (SPEC §3); else raises an ``AuthError`` subclass.

        ``token``: the compact JWS as sent (``parse_authorization``'s token). ``bound``:
        False for the Bearer scheme, where a token with ``cnf`` is refused (before its
        other claims: a key-bound token is not a Bearer token whatever else it holds);
        True for the DPoP scheme, where ``cnf`` must be exactly a string ``jkt`` (after
        every other check, SPEC §3a step 2). Both ``InvalidTokenError``. The claims are
        a fresh dict the caller may keep.
        """
        # Public API: callers may skip parse_bearer, so the same outer limits hold here. A
        # compact JWS is ASCII (RFC 7515 §7.1) and at most 8 KiB (SPEC §3 step 1).
        if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidTokenError("not an ASCII token of at most 8 KiB")
        digest = TokenCache.digest(token) if self.token_cache.size else b""
        if digest:
            cached = self.token_cache.get(digest, self.clock())
            if cached is not None:
                if self.jwks[cached.issuer].is_current(cached.key):
                    check_binding(cached.claims, bound=bound)
                    self.observer.token_cache_hit()
                    return dict(cached.claims)
                self.token_cache.discard(digest)
        # 1-2. a compact JWS whose JOSE header is allowed
        header, claims, signing_input, signature = parse_jws(token, self._accepted_header)
        alg, kid = header["alg"], header["kid"]
        # The unverified `iss` only chooses among configured issuers' JWKS; it never adds one.
        issuer = check_iss(claims, self.settings.issuers)
        # 3. exactly one key with that kid, bound to alg (an unknown kid may refetch)
        key = select_key(self.jwks[issuer].lookup(kid), alg)
        # 4. signature
        if not key.verifiers[alg](signing_input, signature):
            raise InvalidTokenError("bad signature")
        # 5. claims (a Bearer token's cnf first, a DPoP token's cnf.jkt last)
        if not bound:
            check_no_cnf(claims)
        expires_at = check_claims(claims, self.settings, self.clock())
        if bound:
            check_cnf_jkt(claims)
        # cached whatever its cnf: the binding is checked again on every hit
        if digest:
            self.token_cache.put(digest, CachedToken(claims, expires_at, key, issuer))
        return dict(claims)

    def _fetched(self, issuer: str, succeeded: bool) -> None:
        self.observer.jwks_fetch(issuer, succeeded, self.clock())

    def _accepted_header(self, segment: str) -> Mapping[str, Any]:
        """The JOSE header in ``segment`` if it passes SPEC §3 step 2, remembered.

        An issuer's tokens share a handful of byte-identical headers, so an accepted
        header is kept per exact segment (its verdict depends on nothing else); refusals
        are not kept, and the memo stops growing at ``HEADER_MEMO_SIZE``.
        """
        header = self._header_memo.get(segment)
        if header is None:
            header = decode_json_segment(segment)
            check_access_token_header(
                header,
                self.settings.auth_algorithms,
                strict_rfc9068=self.settings.auth_strict_rfc9068,
            )
            if len(self._header_memo) < HEADER_MEMO_SIZE:
                self._header_memo[segment] = header
        return header
