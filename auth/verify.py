"""Access-token verification in SPEC §3 order: JOSE header, key, signature, claims.

``TokenVerifier.verify(token)`` returns the verified claims or raises an
``AuthError``. Keys come only from the configured issuers' JWKS (RFC 7517),
selected by ``kid``; ``jku``, ``x5u``, ``jwk`` and ``x5c`` are never consulted
(RFC 8725 §3.10). Key objects are built once per JWK (``auth.keys``), so a
verification is the compact parse, a dict lookup, one signature check and the
claim checks; a repeat of a verified token is served by ``auth.token_cache``.
Claims follow RFC 7519 §4.1 and, with ``AUTH_STRICT_RFC9068``, RFC 9068 §2.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import requests

from auth.bearer import MAX_TOKEN_LENGTH
from auth.compact import decode_json_segment, decode_segment, signing_input, split_compact
from auth.errors import InvalidClaimsError, InvalidTokenError, TokenExpiredError
from auth.jwks import JWKSCache
from auth.jwks_fetch import JWKSFetcher
from auth.keyset import SigningKey, select_key
from auth.settings import AuthSettings
from auth.token_cache import CachedToken, TokenCache

MAX_SUB_LENGTH = 255
HEADER_MEMO_SIZE = 256
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z: beyond it a "date" is garbage
_TYPES = frozenset({"jwt", "at+jwt"})
_NUMBER_TYPES = (int, float)
# Unicode Cc (C0, DEL, C1) and lone UTF-16 surrogates: a JSON "\ud800" escape decodes to a
# str that cannot be encoded as UTF-8, so it would fail in the database, not here. (`iss`
# needs no such check: it must equal a configured issuer, and those are ASCII URLs.)
_FORBIDDEN_IN_SUB = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class TokenVerifier:
    """Verifies Bearer access tokens against the configured issuers' JWKS."""

    def __init__(
        self,
        settings: AuthSettings,
        session: requests.Session | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.clock = clock
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
            )
            for issuer in settings.issuers
        }
        self.token_cache = TokenCache(settings.token_cache_size)
        self._header_memo: dict[str, tuple[str, str]] = {}

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a valid ``token``; raise an ``AuthError`` subclass otherwise."""
        # Public API: callers may skip parse_bearer, so the same outer limits hold here. A
        # compact JWS is ASCII (RFC 7515 §7.1) and at most 8 KiB (SPEC §3 step 1).
        if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidTokenError("not an ASCII token of at most 8 KiB")
        digest = TokenCache.digest(token) if self.token_cache.size else b""
        if digest:
            cached = self.token_cache.get(digest, self.clock())
            if cached is not None:
                if self.jwks[cached.issuer].is_current(cached.key):
                    return dict(cached.claims)
                self.token_cache.discard(digest)
        header_b64, payload_b64, signature_b64 = split_compact(token)
        alg, kid = self._checked_header(header_b64)
        payload = decode_json_segment(payload_b64)
        signature = decode_segment(signature_b64)
        issuer = self._select_issuer(payload)
        key = self._find_key(issuer, kid, alg)
        if not key.verifiers[alg](signing_input(token, header_b64, payload_b64), signature):
            raise InvalidTokenError("bad signature")
        expires_at = self._check_claims(payload)
        if digest:
            self.token_cache.put(digest, CachedToken(payload, expires_at, key, issuer))
        return dict(payload)

    def _checked_header(self, header_b64: str) -> tuple[str, str]:
        """``(alg, kid)`` of an encoded JOSE header that passes step 2, memoized.

        An issuer's tokens share a handful of byte-identical headers, so the result for
        an exact header segment is remembered (it depends on nothing else); the memo only
        holds accepted headers and stops growing at ``HEADER_MEMO_SIZE``.
        """
        checked = self._header_memo.get(header_b64)
        if checked is None:
            checked = self._check_header(decode_json_segment(header_b64))
            if len(self._header_memo) < HEADER_MEMO_SIZE:
                self._header_memo[header_b64] = checked
        return checked

    def _check_header(self, header: dict[str, Any]) -> tuple[str, str]:
        """SPEC §3 step 2: ``alg`` allowed, ``kid`` present, ``typ`` known, no ``crit``/``cty``."""
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.settings.auth_algorithms:
            raise InvalidTokenError("alg not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidTokenError("no kid")
        typ = header.get("typ")
        # RFC 7515 §4.1.9: a present `typ` is a string; `"typ": null` is not an absent one.
        if "typ" not in header:
            if self.settings.auth_strict_rfc9068:
                raise InvalidTokenError("typ at+jwt required")
        else:
            if not isinstance(typ, str):
                raise InvalidTokenError("typ not a string")
            media = typ.lower().removeprefix("application/")
            allowed = {"at+jwt"} if self.settings.auth_strict_rfc9068 else _TYPES
            if media not in allowed:
                raise InvalidTokenError("typ not allowed")
        # RFC 7515 §4.1.11: no extension is understood, so any `crit` is refused.
        if "crit" in header:
            raise InvalidTokenError("crit present")
        # RFC 7519 §5.2: `cty` marks a nested JWT (or another payload type). An access token
        # is never nested here, so any `cty` is refused (RFC 8725 §2.8/§3.11: explicit typing).
        if "cty" in header:
            raise InvalidTokenError("cty present")
        return alg, kid

    def _select_issuer(self, payload: dict[str, Any]) -> str:
        # The unverified `iss` only chooses among configured issuers; it never adds one,
        # so an unknown issuer costs no fetch.
        iss = payload.get("iss")
        if not isinstance(iss, str) or iss not in self.jwks:
            raise InvalidClaimsError("issuer not configured")
        return iss

    def _find_key(self, issuer: str, kid: str, alg: str) -> SigningKey:
        """SPEC §3 step 3: exactly one JWK with ``kid``, bound to ``alg``."""
        return select_key(self.jwks[issuer].lookup(kid), alg)

    def _check_claims(self, claims: dict[str, Any]) -> float:
        """SPEC §3 step 5; return the time after which the token is expired (``exp`` + leeway)."""
        settings = self.settings
        leeway = settings.auth_leeway
        if "cnf" in claims:
            # Sender-constrained (RFC 7800, DPoP, mTLS): a Bearer request carries no proof.
            raise InvalidTokenError("cnf present")
        if claims.get("iss") not in settings.issuers:
            raise InvalidClaimsError("wrong iss")
        aud = claims.get("aud")
        if isinstance(aud, str):
            has_audience = aud == settings.api_audience
        else:
            has_audience = (
                isinstance(aud, list)
                and settings.api_audience in aud
                and all(isinstance(a, str) for a in aud)
            )
        if not has_audience:
            raise InvalidClaimsError("wrong aud")
        exp = _numeric_date(claims, "exp")
        if exp is None:
            raise InvalidClaimsError("no exp")
        nbf = _numeric_date(claims, "nbf")
        iat = _numeric_date(claims, "iat")
        _check_sub(claims.get("sub"))
        if settings.auth_strict_rfc9068:
            _check_rfc9068(claims)
        now = self.clock()
        if nbf is not None and nbf > now + leeway:
            raise InvalidClaimsError("nbf in the future")
        if iat is not None and iat > now + leeway:
            raise InvalidClaimsError("iat in the future")
        if now >= exp + leeway:
            raise TokenExpiredError("expired")
        return exp + leeway


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """RFC 7519 §2 NumericDate: a JSON number (not a bool), finite, within year 9999."""
    value = claims.get(name)
    if value is None:
        if name in claims:
            raise InvalidClaimsError(f"null {name}")
        return None
    # type() rather than isinstance: bool is an int subclass. NaN and inf fail the range.
    if type(value) not in _NUMBER_TYPES or not 0 <= value <= MAX_NUMERIC_DATE:
        raise InvalidClaimsError(f"malformed {name}")
    return float(value)


def _check_sub(sub: object) -> None:
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUB_LENGTH:
        raise InvalidClaimsError("bad sub")
    if _FORBIDDEN_IN_SUB.search(sub):
        raise InvalidClaimsError("control character or lone surrogate in sub")


def _check_rfc9068(claims: dict[str, Any]) -> None:
    """RFC 9068 §2.2: ``iat`` (already typed), ``jti`` and ``client_id`` required."""
    if "iat" not in claims:
        raise InvalidClaimsError("no iat")
    for name in ("jti", "client_id"):
        value = claims.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidClaimsError(f"no {name}")
