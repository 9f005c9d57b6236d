"""Test kit for pytest suites of APIs using ``auth`` (SPEC §7): no network, no tenant.

An ``AuthKit`` is a fake issuer: an in-memory RSA-2048 key, its JWKS served
through ``responses``, and tokens minted with any claims, header or expiry,
including broken ones::

    import responses
    from auth.testing import AuthKit, OMIT

    kit = AuthKit()  # issuer https://cashman-test.example.com/, audience https://api.cashman.test

    def test_list_needs_read_scope(client_factory):
        with responses.RequestsMock() as rsps:
            kit.publish(rsps)                       # GET <issuer>.well-known/jwks.json
            client = client_factory(env=kit.env())  # AUTH0_ISSUER + API_AUDIENCE
            token = kit.mint(scopes=["write:transactions"])
            resp = client.get("/incomes", headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 403

    kit.mint(claims={"exp": OMIT})                  # drop a default claim
    kit.mint(headers={"typ": "at+jwt"}, expires_in=-60)
    kit.rotate()                                    # new signing key, published next fetch

Key rotation: the API sees the kit's new key when it next fetches the JWKS.
An unknown ``kid`` triggers that fetch, but at most once every
``JWKS_MIN_REFRESH_INTERVAL`` seconds (30 by default, counted from the app's
first fetch), so a test that rotates after the app has verified a token
builds the app with the interval at 0 (the app logs a warning that this is
for tests only)::

    env = kit.env(JWKS_MIN_REFRESH_INTERVAL="0")   # or kit.settings(jwks_min_refresh_interval=0)

Or enable the fixtures ``auth_kit`` and ``auth_jwks`` with
``pytest_plugins = ["auth.pytest_plugin"]``.

A server in another process (a live API under test) cannot see ``responses``:
``JWKSServer(kit.jwks)`` serves the key set over real HTTP on loopback, and
``kit.env(AUTH0_JWKS_URL=server.url)`` points the API at it (``auth.jwks_server``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from auth.jwks_server import Answer, JWKSServer  # noqa: F401 - re-exported: the kit's server
from auth.settings import AuthSettings

if TYPE_CHECKING:
    import responses

    PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

DEFAULT_ISSUER = "https://cashman-test.example.com/"
DEFAULT_AUDIENCE = "https://api.cashman.test"
DEFAULT_CLIENT_ID = "cashman-test-client"


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
"""A claim or header value that removes the default instead of setting it."""

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
_CRV_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def generate_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A fresh RSA private key (about 50 ms for 2048 bits)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def shared_rsa_key(slot: int = 0) -> rsa.RSAPrivateKey:
    """One RSA-2048 key per ``slot`` per process: tests stay fast and keys stay distinct."""
    return generate_rsa_key()


def generate_ec_key(alg: str = "ES256") -> ec.EllipticCurvePrivateKey:
    """A fresh EC private key on the curve ``alg`` needs."""
    return ec.generate_private_key(_CURVES[alg]())


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int, length: int | None = None) -> str:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def public_jwk(key: PrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    """The public JWK (RFC 7517/7518 §6) of ``key``; ``extra`` adds members like ``use``/``alg``."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        data = {"kty": "RSA", "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
    else:
        pub = key.public_key().public_numbers()
        size = (key.curve.key_size + 7) // 8
        data = {
            "kty": "EC",
            "crv": _CRV_NAMES[key.curve.name],
            "x": _int_b64(pub.x, size),
            "y": _int_b64(pub.y, size),
        }
    jwk = {"kid": kid, "use": "sig", **data, **extra}
    return {k: v for k, v in jwk.items() if v is not OMIT}


def sign(signing_input: bytes, alg: str, key: PrivateKey | bytes) -> bytes:
    """A JWS signature (RFC 7518 §3) of ``signing_input`` with ``alg``; HS* takes bytes."""
    digest = _HASHES[alg[2:]]
    if alg.startswith("HS"):
        if not isinstance(key, bytes):
            raise TypeError("HS* signs with a bytes secret")
        return hmac.new(key, signing_input, getattr(hashlib, digest.name)).digest()
    if alg.startswith("RS"):
        assert isinstance(key, rsa.RSAPrivateKey)  # noqa: S101
        return key.sign(signing_input, padding.PKCS1v15(), digest())
    if alg.startswith("PS"):
        assert isinstance(key, rsa.RSAPrivateKey)  # noqa: S101
        pss = padding.PSS(mgf=padding.MGF1(digest()), salt_length=digest.digest_size)
        return key.sign(signing_input, pss, digest())
    assert isinstance(key, ec.EllipticCurvePrivateKey)  # noqa: S101
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest())))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _segment(part: Mapping[str, Any] | bytes | str | list[Any] | int | float | None) -> str:
    """A token segment: dicts and other JSON values are serialized, bytes/str taken as they are."""
    if isinstance(part, bytes):
        return b64url(part)
    if isinstance(part, str):
        return b64url(part.encode("utf-8"))
    return b64url(json.dumps(part, separators=(",", ":"), allow_nan=True).encode("utf-8"))


@dataclass(frozen=True)
class KitKey:
    """A key the kit can sign with, and the JWK members it is published with."""

    kid: str
    private_key: Any
    jwk_extra: Mapping[str, Any]

    def jwk(self) -> dict[str, Any]:
        """The public JWK as published."""
        return public_jwk(self.private_key, self.kid, **self.jwk_extra)


class AuthKit:
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
        self.issuer = issuer
        self.audience = audience
        self.client_id = client_id
        self.jwks_url = jwks_url or issuer.rstrip("/") + "/.well-known/jwks.json"
        self._has_custom_jwks_url = jwks_url is not None
        if key is None:
            key = generate_rsa_key() if fresh_key else shared_rsa_key(0)
        self.keys: list[KitKey] = [KitKey(kid, key, {"alg": "RS256"})]
        self.signing_kid = kid
        self._other_slot = 1

    # -- keys and JWKS -------------------------------------------------------------------

    @property
    def key(self) -> Any:
        """The current signing private key."""
        return self._key(self.signing_kid).private_key

    def _key(self, kid: str) -> KitKey:
        for item in self.keys:
            if item.kid == kid:
                return item
        raise KeyError(kid)

    def jwks(self) -> dict[str, Any]:
        """The published key set, as the issuer would serve it now."""
        return {"keys": [item.jwk() for item in self.keys]}

    def add_key(self, kid: str, key: Any = None, **jwk_extra: Any) -> Any:
        """Publish another key; ``jwk_extra`` sets JWK members (``use``, ``alg``, ``key_ops``)."""
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
        """
        new_kid = kid or f"test-key-{uuid.uuid4().hex[:8]}"
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
        """Serve ``jwks()`` at ``jwks_url`` through ``rsps``; later key changes show on refetch."""
        import responses as responses_module

        def serve(_request: Any) -> tuple[int, dict[str, str], str]:
            return 200, {"Content-Type": "application/json"}, json.dumps(self.jwks())

        return rsps.add_callback(responses_module.GET, self.jwks_url, callback=serve)

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
        """The default claims of an Auth0-like access token."""
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
        scope_list = list(scopes)
        if scope_list:
            claims["scope"] = " ".join(scope_list)
        if permissions is not None:
            claims["permissions"] = list(permissions)
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
        payload = _merge(self.claims(sub, scopes, permissions, expires_in), claims)
        header = _merge({"alg": alg, "typ": "JWT", "kid": kid or self.signing_kid}, headers)
        if key is None:
            kid_for_key = kid or self.signing_kid
            key = self._key(kid_for_key).private_key if self._has(kid_for_key) else self.key
        return self.mint_raw(header, payload, key=key, alg=alg)

    def _has(self, kid: str) -> bool:
        return any(item.kid == kid for item in self.keys)

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
        signing_input = f"{_segment(header)}.{_segment(payload)}"
        if signature is None:
            sign_alg = alg or (header.get("alg") if isinstance(header, Mapping) else None)
            if (
                isinstance(sign_alg, str)
                and sign_alg[:2] in ("RS", "PS", "ES", "HS")
                and sign_alg[2:] in _HASHES
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
        signing_input = f"{_segment(header)}.{payload_b64}"
        signature = sign(signing_input.encode("ascii"), "HS256", secret)
        return f"{signing_input}.{b64url(signature)}"


def _merge(base: dict[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = {**base, **(changes or {})}
    return {k: v for k, v in merged.items() if v is not OMIT}


# -- DPoP (RFC 9449): client keys, bound tokens and proofs, broken on demand -----------------
# The thumbprint and `ath` are computed here from the RFCs' definitions rather than imported
# from the verifier, so a kit-made proof is an independent check of what the verifier expects.

DPOP_PRIVATE_MEMBERS = {"RSA": ("d", "p", "q", "dp", "dq", "qi"), "EC": ("d",)}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of an EC or RSA public JWK (its required members only)."""
    names = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({name: jwk[name] for name in names}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url(SHA-256(ASCII(access_token)))."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def private_jwk(key: PrivateKey) -> dict[str, Any]:
    """The JWK of ``key`` with its private members (for "private key embedded" proofs)."""
    data = public_jwk(key, OMIT, use=OMIT)
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        values = (numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp)
        data.update(zip(DPOP_PRIVATE_MEMBERS["RSA"], map(_int_b64, values), strict=True))
    else:
        size = (key.curve.key_size + 7) // 8
        data["d"] = _int_b64(key.private_numbers().private_value, size)
    return data


def dpop_headers(access_token: str, proof: str) -> dict[str, str]:
    """``Authorization: DPoP <token>`` and ``DPoP: <proof>`` (RFC 9449 §7.1)."""
    return {"Authorization": f"DPoP {access_token}", "DPoP": proof}


class DPoPKey:
    """A client's DPoP key pair (ES256 by default) that binds tokens and signs proofs::

    client = DPoPKey()
    token = client.mint_bound(kit, scopes=["read:transactions"])  # cnf.jkt = client.jkt
    proof = client.proof("GET", "https://api.example.com/incomes", token)
    headers = dpop_headers(token, proof)

    client.proof("GET", url, token, claims={"htm": "POST"})      # any claim changed...
    client.proof("GET", url, token, claims={"ath": OMIT})        # ...or dropped
    client.proof("GET", url, token, headers={"typ": "JWT"})      # any header member
    client.proof("GET", url, token, key=DPoPKey().private_key)   # signed by another key
    client.proof("GET", url, token, embed_private=True)          # jwk with "d"
    client.proof("GET", url, token, corrupt_signature=True)      # one bit flipped
    """

    def __init__(self, alg: str = "ES256", key: Any = None) -> None:
        """``alg``: ES256/384/512 (a fresh EC key) or RS*/PS* (a fresh RSA-2048 key)."""
        self.alg = alg
        if key is None:
            key = generate_ec_key(alg) if alg.startswith("ES") else generate_rsa_key()
        self.private_key = key

    def jwk(self) -> dict[str, Any]:
        """The public JWK a proof carries: only the members RFC 7638 needs, no ``kid``."""
        return public_jwk(self.private_key, OMIT, use=OMIT)

    @property
    def jkt(self) -> str:
        """This key's RFC 7638 thumbprint: the ``cnf.jkt`` of the tokens bound to it."""
        return jwk_thumbprint(self.jwk())

    def mint_bound(
        self, kit: AuthKit, claims: Mapping[str, Any] | None = None, **mint_args: Any
    ) -> str:
        """An access token from ``kit`` bound to this key (``cnf: {"jkt": ...}``)."""
        return kit.mint(claims={"cnf": {"jkt": self.jkt}, **(claims or {})}, **mint_args)

    def proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        *,
        jti: str | None = None,
        nonce: str | None = None,
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        now: float | None = None,
        key: Any = None,
        alg: str | None = None,
        embed_private: bool = False,
        corrupt_signature: bool = False,
    ) -> str:
        """A DPoP proof JWT for ``method`` and ``url`` (and ``ath`` of ``access_token``).

        ``claims``/``headers`` override or (with ``OMIT``) drop members; ``key`` signs
        instead of this key (the header still carries this key's ``jwk``); ``alg`` signs
        with another algorithm than the header names; ``now`` sets ``iat``; ``jti``
        defaults to a fresh random one.
        """
        now = time.time() if now is None else now
        payload: dict[str, Any] = {
            "jti": jti or uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(now),
        }
        if access_token is not None:
            payload["ath"] = access_token_hash(access_token)
        if nonce is not None:
            payload["nonce"] = nonce
        jwk = private_jwk(self.private_key) if embed_private else self.jwk()
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": jwk}
        signing_input = f"{_segment(_merge(header, headers))}.{_segment(_merge(payload, claims))}"
        signature = sign(signing_input.encode("ascii"), alg or self.alg, key or self.private_key)
        if corrupt_signature:
            signature = signature[:-1] + bytes([signature[-1] ^ 1])
        return f"{signing_input}.{b64url(signature)}"
