"""The test kit's published key set: signing keys, rotation, JWKS served through
``responses`` (RFC 7517 §5, SPEC §7)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auth.testing.keys import generate_rsa_key, public_jwk, shared_rsa_key

if TYPE_CHECKING:
    import responses


@dataclass(frozen=True)
class KitKey:
    """A key the kit can sign with, and the JWK members it is published with."""

    kid: str
    private_key: Any
    jwk_extra: Mapping[str, Any]

    def jwk(self) -> dict[str, Any]:
        """The public JWK as published."""
        return public_jwk(self.private_key, self.kid, **self.jwk_extra)


class IssuerKeys:
    """An issuer's signing keys and the JWKS it publishes; ``AuthKit`` mints with them."""

    def __init__(
        self,
        issuer: str,
        *,
        kid: str = "test-key-1",
        key: Any = None,
        fresh_key: bool = False,
        jwks_url: str | None = None,
    ) -> None:
        """``kid``: the signing key's id; ``key``: its RSA private key (default: one shared
        per process, or a new one with ``fresh_key``); ``jwks_url``: where ``publish`` serves
        the JWKS (default ``{issuer}.well-known/jwks.json``)."""
        self.issuer = issuer
        self.jwks_url = jwks_url or issuer.rstrip("/") + "/.well-known/jwks.json"
        self._has_custom_jwks_url = jwks_url is not None
        if key is None:
            key = generate_rsa_key() if fresh_key else shared_rsa_key(0)
        self.keys: list[KitKey] = [KitKey(kid, key, {"alg": "RS256"})]
        self.signing_kid = kid
        self._other_slot = 1

    @property
    def key(self) -> Any:
        """The current signing private key."""
        return self._key(self.signing_kid).private_key

    def _key(self, kid: str) -> KitKey:
        for item in self.keys:
            if item.kid == kid:
                return item
        raise KeyError(kid)

    def _has(self, kid: str) -> bool:
        return any(item.kid == kid for item in self.keys)

    def jwks(self) -> dict[str, Any]:
        """The published key set, as the issuer would serve it now."""
        return {"keys": [item.jwk() for item in self.keys]}

    def add_key(
        self, kid: str, key: Any = None, *, duplicate_kid: bool = False, **jwk_extra: Any
    ) -> Any:
        """Publish another key; ``jwk_extra`` sets JWK members (``use``, ``alg``, ``key_ops``).

        ``ValueError`` for a ``kid`` already published: the set would be ambiguous and the
        API refuses every token naming it (SPEC §3). ``duplicate_kid=True`` publishes it
        anyway, to test exactly that."""
        if self._has(kid) and not duplicate_kid:
            raise ValueError(
                f"kid {kid!r} is already published (duplicate_kid=True to publish it twice)"
            )
        if key is None:
            key = self.other_key()
        self.keys.append(KitKey(kid, key, {"alg": "RS256", **jwk_extra}))
        return key

    def remove_key(self, kid: str) -> None:
        """Stop publishing ``kid``."""
        self.keys = [item for item in self.keys if item.kid != kid]

    def rotate(self, kid: str | None = None, *, keep_old: bool = True) -> str:
        """Sign with a new key from now on; the old one stays published unless not ``keep_old``.

        An app already holding the old key set fetches the new one on the first token with
        the new ``kid``, but no sooner than ``JWKS_MIN_REFRESH_INTERVAL`` after its last
        fetch: configure it with ``env(JWKS_MIN_REFRESH_INTERVAL="0")`` (or
        ``settings(jwks_min_refresh_interval=0)``) to see the rotation at once.
        ``ValueError`` when ``kid`` is already published.
        """
        new_kid = kid or f"test-key-{uuid.uuid4().hex[:8]}"
        if self._has(new_kid):
            raise ValueError(f"kid {new_kid!r} is already published: rotate to a new kid")
        old = self.signing_kid
        self.add_key(new_kid)
        self.signing_kid = new_kid
        if not keep_old:
            self.remove_key(old)
        return new_kid

    def other_key(self, *, fresh: bool = False) -> Any:
        """An RSA key that is not published (an attacker's, or the next one to rotate in)."""
        if fresh:
            return generate_rsa_key()
        self._other_slot += 1
        return shared_rsa_key(self._other_slot)

    def publish(self, rsps: responses.RequestsMock) -> Any:
        """Serve ``jwks()`` at ``jwks_url`` through ``rsps``; later key changes show on refetch.

        Returns the registered ``responses`` callback (its ``call_count`` counts fetches).
        """
        import responses as responses_module

        def serve(_request: Any) -> tuple[int, dict[str, str], str]:
            return 200, {"Content-Type": "application/json"}, json.dumps(self.jwks())

        return rsps.add_callback(responses_module.GET, self.jwks_url, callback=serve)
