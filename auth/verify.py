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

import math
import time
from collections.abc import Callable
from typing import Any

import requests

from auth.compact import parse_compact
from auth.errors import InvalidClaimsError, InvalidTokenError, TokenExpiredError
from auth.jwks import JWKSCache
from auth.keys import EC_CURVES, SigningKey, key_type_for
from auth.settings import AuthSettings
from auth.token_cache import CachedToken, TokenCache

MAX_SUB_LENGTH = 255
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z: beyond it a "date" is garbage
_TYPES = frozenset({"jwt", "at+jwt"})


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
        session = session or requests.Session()
        self.jwks: dict[str, JWKSCache] = {
            issuer: JWKSCache(
                settings.jwks_urls[issuer],
                ttl=settings.jwks_cache_ttl,
                min_refresh=settings.jwks_min_refresh_interval,
                max_stale=settings.jwks_max_stale,
                algorithms=settings.auth_algorithms,
                session=session,
                clock=monotonic,
            )
            for issuer in settings.issuers
        }
        self.token_cache = TokenCache(settings.token_cache_size)

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a valid ``token``; raise an ``AuthError`` subclass otherwise."""
        digest = TokenCache.digest(token) if self.token_cache.size else b""
        if digest:
            cached = self.token_cache.get(digest, self.clock())
            if cached is not None:
                if self.jwks[cached.issuer].is_current(cached.key):
                    return dict(cached.claims)
                self.token_cache.discard(digest)
        jws = parse_compact(token)
        alg, kid = self._check_header(jws.header)
        issuer = self._select_issuer(jws.payload)
        key = self._find_key(issuer, kid, alg)
        if not key.verifiers[alg](jws.signing_input, jws.signature):
            raise InvalidTokenError("bad signature")
        expires_at = self._check_claims(jws.payload)
        if digest:
            self.token_cache.put(digest, CachedToken(jws.payload, expires_at, key, issuer))
        return dict(jws.payload)

    def _check_header(self, header: dict[str, Any]) -> tuple[str, str]:
        """SPEC §3 step 2: ``alg`` allowed, ``kid`` present, ``typ`` known, no ``crit``."""
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.settings.auth_algorithms:
            raise InvalidTokenError("alg not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidTokenError("no kid")
        typ = header.get("typ")
        if typ is None:
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
        candidates = self.jwks[issuer].lookup(kid)
        if len(candidates) != 1:
            raise InvalidTokenError("no single key with this kid")
        key = candidates[0]
        if key.use is not None and key.use != "sig":
            raise InvalidTokenError("key not for signatures")
        if key.key_ops is not None and (
            not isinstance(key.key_ops, list) or "verify" not in key.key_ops
        ):
            raise InvalidTokenError("key_ops without verify")
        if key.kty != key_type_for(alg) or (key.kty == "EC" and key.crv != EC_CURVES[alg]):
            raise InvalidTokenError("key type does not match alg")
        if key.alg is not None and key.alg != alg:
            raise InvalidTokenError("key bound to another alg")
        if alg not in key.verifiers:
            raise InvalidTokenError("key cannot verify this alg")
        return key

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
        audiences = [aud] if isinstance(aud, str) else aud
        if (
            not isinstance(audiences, list)
            or not all(isinstance(a, str) for a in audiences)
            or settings.api_audience not in audiences
        ):
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
    if name not in claims:
        return None
    value = claims[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_NUMERIC_DATE
    ):
        raise InvalidClaimsError(f"malformed {name}")
    return float(value)


def _check_sub(sub: object) -> None:
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUB_LENGTH:
        raise InvalidClaimsError("bad sub")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in sub):
        raise InvalidClaimsError("control character in sub")


def _check_rfc9068(claims: dict[str, Any]) -> None:
    """RFC 9068 §2.2: ``iat`` (already typed), ``jti`` and ``client_id`` required."""
    if "iat" not in claims:
        raise InvalidClaimsError("no iat")
    for name in ("jti", "client_id"):
        value = claims.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidClaimsError(f"no {name}")
