"""JSON Web Keys (RFC 7517/7518) turned into verification key objects, once per key.

Each usable JWK of a key set becomes a ``SigningKey``: its metadata (``kid``,
``kty``, ``crv``, ``use``, ``key_ops``, ``alg``) for the binding checks of
SPEC §3 step 3, and one ready verifier per accepted algorithm, built when the
key set is fetched, never per request. RS*/ES* verify through python-jose's
``cryptography`` key classes; PS* (which python-jose lacks) through
``cryptography`` directly. Only public parameters are read from a JWK.

A key set refresh reuses the ``SigningKey`` of a JWK whose public members are
unchanged (``public_fingerprint``): the object stays the same, so tokens the
verified-token cache holds for it survive a refresh that did not change it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from jose import jwk
    from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey
    from jose.exceptions import JOSEError
except ImportError as exc:
    # The package must still import: start-up (``check_jose_backend``) then refuses to run
    # with one line naming python-jose, instead of an ImportError traceback here.
    BACKEND_IMPORT_ERROR: ImportError | None = exc
else:
    BACKEND_IMPORT_ERROR = None

Verifier = Callable[[bytes, bytes], bool]

MIN_RSA_BITS = 2048
EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
# Every member that decides what a key verifies: private members (d, p, q...) never count.
PUBLIC_MEMBERS = ("kid", "kty", "n", "e", "crv", "x", "y", "use", "key_ops", "alg")
_HASH_NAMES = {"256": "SHA256", "384": "SHA384", "512": "SHA512"}


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
"""A JWK member that is not there: ``"use": null`` is present (and invalid), not absent."""


class UnusableKeyError(ValueError):
    """A JWK that cannot verify anything here (bad material, unsupported type)."""


def key_type_for(alg: str) -> str:
    """The JWK ``kty`` an algorithm needs: ``RSA`` for RS*/PS*, ``EC`` for ES*."""
    return "EC" if alg.startswith("ES") else "RSA"


@dataclass(frozen=True, eq=False)
class SigningKey:
    """One JWK of a key set, with its verifiers built once. Compared by identity."""

    kid: str
    kty: str
    crv: str | None
    use: object
    key_ops: object
    alg: object
    verifiers: Mapping[str, Verifier] = field(repr=False)
    fingerprint: str = field(default="", repr=False)


def unusable_key(kid: str) -> SigningKey:
    """Stands for a skipped JWK that shares ``kid`` with a usable one: the kid is ambiguous."""
    return SigningKey(
        kid=kid, kty="", crv=None, use=ABSENT, key_ops=ABSENT, alg=ABSENT, verifiers={}
    )


def public_fingerprint(data: Mapping[str, Any]) -> str:
    """The JWK's public members as canonical JSON: equal strings mean an identical key."""
    try:
        return json.dumps(
            {name: data[name] for name in PUBLIC_MEMBERS if name in data},
            sort_keys=True,
            separators=(",", ":"),
        )
    except (ValueError, TypeError, RecursionError) as exc:  # a hostile, deeply nested member
        raise UnusableKeyError("JWK members cannot be compared") from exc


def build_signing_key(data: Mapping[str, Any], algorithms: Iterable[str]) -> SigningKey:
    """Parse one JWK; raise ``UnusableKeyError`` if it cannot serve any accepted algorithm."""
    kid = data.get("kid")
    kty = data.get("kty")
    if not isinstance(kid, str) or not kid:
        raise UnusableKeyError("JWK without a usable kid")
    if kty not in ("RSA", "EC"):
        raise UnusableKeyError("unsupported kty")
    crv = data.get("crv") if kty == "EC" else None
    candidates = [
        alg
        for alg in algorithms
        if key_type_for(alg) == kty and (kty != "EC" or EC_CURVES[alg] == crv)
    ]
    try:
        build = _rsa_verifiers if kty == "RSA" else _ec_verifiers
        verifiers = build(data, candidates)
    except (JOSEError, ValueError, TypeError, KeyError, OverflowError) as exc:
        raise UnusableKeyError("bad key material") from exc
    return SigningKey(
        kid=kid,
        kty=kty,
        crv=crv if isinstance(crv, str) else None,
        use=data.get("use", ABSENT),
        key_ops=data.get("key_ops", ABSENT),
        alg=data.get("alg", ABSENT),
        verifiers=verifiers,
        fingerprint=public_fingerprint(data),
    )


def _rsa_verifiers(data: Mapping[str, Any], algorithms: list[str]) -> dict[str, Verifier]:
    public = {"kty": "RSA", "n": data["n"], "e": data["e"]}
    if not all(isinstance(public[k], str) for k in ("n", "e")):
        raise UnusableKeyError("RSA parameters must be strings")
    base = jwk.construct(public, "RS256")
    key = base.prepared_key
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise UnusableKeyError("RSA key too small")
    verifiers: dict[str, Verifier] = {}
    for alg in algorithms:
        if alg.startswith("RS"):
            verifiers[alg] = _pkcs1_verifier(CryptographyRSAKey(key, alg))
        else:
            verifiers[alg] = _pss_verifier(key, getattr(hashes, _HASH_NAMES[alg[2:]]))
    return verifiers


def _ec_verifiers(data: Mapping[str, Any], algorithms: list[str]) -> dict[str, Verifier]:
    public = {"kty": "EC", "crv": data["crv"], "x": data["x"], "y": data["y"]}
    if not all(isinstance(public[k], str) for k in ("crv", "x", "y")):
        raise UnusableKeyError("EC parameters must be strings")
    if public["crv"] not in EC_CURVES.values():
        raise UnusableKeyError("unsupported curve")
    alg = next(a for a, c in EC_CURVES.items() if c == public["crv"])
    key = jwk.construct(public, alg).prepared_key
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UnusableKeyError("not an EC public key")
    return {alg: CryptographyECKey(key, alg).verify for alg in algorithms}


def _pkcs1_verifier(jose_key: CryptographyRSAKey) -> Verifier:
    """RSASSA-PKCS1-v1_5 (RFC 7518 §3.3) on python-jose's prepared key, padding and hash
    objects built once: jose's own ``verify`` rebuilds them on every call."""
    key = jose_key.prepared_key
    pkcs1 = padding.PKCS1v15()
    algorithm = jose_key.hash_alg()

    def verify(message: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, message, pkcs1, algorithm)
        except InvalidSignature:
            return False
        return True

    return verify


def _pss_verifier(key: rsa.RSAPublicKey, hash_cls: type[hashes.HashAlgorithm]) -> Verifier:
    """RSASSA-PSS (RFC 7518 §3.5): MGF1 with the same hash, salt = digest length."""
    algorithm = hash_cls()
    pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=algorithm.digest_size)

    def verify(message: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, message, pss, algorithm)
        except InvalidSignature:
            return False
        return True

    return verify
