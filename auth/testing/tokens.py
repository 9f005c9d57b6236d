"""``AuthKit``: the test kit's fake issuer, minting access tokens good and broken
(RFC 7519, RFC 9068, SPEC §7) with the keys it publishes."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives import serialization

from auth.settings import AuthSettings
from auth.testing.jwks import IssuerKeys
from auth.testing.keys import HASHES, b64url, merge, segment, sign

DEFAULT_ISSUER = "https://cashman-test.example.com/"
DEFAULT_AUDIENCE = "https://api.cashman.test"
DEFAULT_CLIENT_ID = "cashman-test-client"


class AuthKit(IssuerKeys):
    """A fake issuer for tests: key, JWKS, settings and token minting."""

    def __init__(
        self,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        *,
        kid: str = "test-key-1",
        key: Any = None,
        fresh_key: bool = False,
        jwks_url: str | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
    ) -> None:
        """An issuer URL and the audience its tokens carry (SPEC §7).

        ``kid``: the signing key's id; ``key``: its RSA private key (default: one shared
        per process, or a new one with ``fresh_key``); ``jwks_url``: where ``publish``
        serves the JWKS (default ``{issuer}.well-known/jwks.json``; a custom one appears
        in ``env()`` as ``AUTH0_JWKS_URL``); ``client_id``: the tokens' ``client_id``.
        """
        super().__init__(issuer, kid=kid, key=key, fresh_key=fresh_key, jwks_url=jwks_url)
        self.audience = audience
        self.client_id = client_id

    # -- configuration -------------------------------------------------------------------

    def env(self, **overrides: str) -> dict[str, str]:
        """Environment variables that configure ``auth`` for this issuer, plus ``overrides``
        (e.g. ``JWKS_MIN_REFRESH_INTERVAL="0"`` to see ``rotate()`` at once)."""
        env = {"AUTH0_ISSUER": self.issuer, "API_AUDIENCE": self.audience}
        if self._has_custom_jwks_url:
            env["AUTH0_JWKS_URL"] = self.jwks_url
        return {**env, **overrides}

    def settings(self, **overrides: Any) -> AuthSettings:
        """``AuthSettings`` for this issuer, with attribute ``overrides``.

        JWKS refreshes are synchronous here (``jwks_background_refresh=False``) so a test that
        moves the clock past the TTL sees the refetch done, and counted, when ``verify`` returns.
        """
        overrides = {"jwks_background_refresh": False, **overrides}
        return replace(AuthSettings.from_env(self.env()), **overrides)

    # -- tokens --------------------------------------------------------------------------

    def claims(
        self,
        sub: str = "user-1",
        scopes: Iterable[str] = (),
        permissions: Iterable[str] | None = None,
        expires_in: float = 300,
        now: float | None = None,
    ) -> dict[str, Any]:
        """The default claims of an Auth0-like access token; ``expires_in`` and ``now`` in
        seconds (``now`` a NumericDate, default the current time). ``scopes`` and
        ``permissions`` are lists of names; one string is read as names separated by
        spaces (as ``scope`` is written), not as a list of its characters."""
        now = time.time() if now is None else now
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": self.audience,
            "iat": int(now),
            "exp": int(now + expires_in),
            "jti": uuid.uuid4().hex,
            "client_id": self.client_id,
        }
        scope_list = scopes.split() if isinstance(scopes, str) else list(scopes)
        if scope_list:
            claims["scope"] = " ".join(scope_list)
        if permissions is not None:
            claims["permissions"] = (
                permissions.split() if isinstance(permissions, str) else list(permissions)
            )
        return claims

    def mint(
        self,
        sub: str = "user-1",
        scopes: Iterable[str] = (),
        permissions: Iterable[str] | None = None,
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        expires_in: float = 300,
        key: Any = None,
        alg: str = "RS256",
        kid: str | None = None,
    ) -> str:
        """A signed access token; ``claims``/``headers`` override the defaults (``OMIT`` drops)."""
        payload = merge(self.claims(sub, scopes, permissions, expires_in), claims)
        header = merge({"alg": alg, "typ": "JWT", "kid": kid or self.signing_kid}, headers)
        if key is None:
            kid_for_key = kid or self.signing_kid
            key = self._key(kid_for_key).private_key if self._has(kid_for_key) else self.key
        return self.mint_raw(header, payload, key=key, alg=alg)

    def mint_raw(
        self,
        header: Mapping[str, Any] | bytes | str | Any,
        payload: Mapping[str, Any] | bytes | str | Any,
        signature: bytes | None = None,
        *,
        key: Any = None,
        alg: str | None = None,
    ) -> str:
        """A token from exactly these parts, signed with ``alg`` (default: the header's) and
        ``key`` (default: the kit's) unless ``signature`` is given; an alg that cannot sign
        gives an empty signature. Header/payload may be any JSON value, or raw bytes/str."""
        signing_input = f"{segment(header)}.{segment(payload)}"
        if signature is None:
            sign_alg = alg or (header.get("alg") if isinstance(header, Mapping) else None)
            if (
                isinstance(sign_alg, str)
                and sign_alg[:2] in ("RS", "PS", "ES", "HS")
                and sign_alg[2:] in HASHES
            ):
                signature = sign(signing_input.encode("ascii"), sign_alg, key or self.key)
            signature = signature or b""
        return f"{signing_input}.{b64url(signature)}"

    def public_pem(self) -> bytes:
        """The signing key's public key as PEM (SubjectPublicKeyInfo)."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def mint_hs256_with_public_key(self, form: str = "pem", **mint_args: Any) -> str:
        """The algorithm-confusion attack: HS256 keyed with the public key (``pem`` or ``jwk``)."""
        secret = (
            self.public_pem()
            if form == "pem"
            else json.dumps(self._key(self.signing_kid).jwk()).encode("utf-8")
        )
        token = self.mint(alg="RS256", **mint_args)
        header_b64, payload_b64, _ = token.split(".")
        header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
        header["alg"] = "HS256"
        signing_input = f"{segment(header)}.{payload_b64}"
        signature = sign(signing_input.encode("ascii"), "HS256", secret)
        return f"{signing_input}.{b64url(signature)}"
