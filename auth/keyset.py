"""JSON Web Keys (RFC 7517/7518) as key objects, a JWK Set parsed, and key selection.

Each usable JWK becomes a ``SigningKey``: its metadata (``kid``, ``kty``,
``crv``, ``use``, ``key_ops``, ``alg``) for the binding checks of SPEC §3
step 3, and one ready verifier per accepted algorithm, built when the key set
is fetched, never per request. Key material is read by python-jose's
``cryptography`` backend (``jwk.construct``); RS* and PS* (which python-jose
lacks) verify with ``cryptography`` directly, ES* through python-jose's EC key
class. Only public parameters are read from a JWK.

``parse_jwk_set`` reuses the ``SigningKey`` of a JWK whose public members are
unchanged (``public_fingerprint``): the object stays the same across refreshes,
so tokens the verified-token cache holds for it stay valid. ``select_key`` is
step 3: exactly one entry with the token's ``kid``, bound to its ``alg``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from auth.errors import InvalidTokenError
from auth.jose_json import JSONError, parse_object
from auth.settings import ASYMMETRIC_ALGORITHMS

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from jose import jwk
    from jose.backends.cryptography_backend import CryptographyECKey
    from jose.exceptions import JOSEError
except ImportError as exc:
    # The package must still import: start-up (``check_jose_backend``) then refuses to run
    # with one line naming python-jose, instead of an ImportError traceback here.
    BACKEND_IMPORT_ERROR: ImportError | None = exc
else:
    BACKEND_IMPORT_ERROR = None

logger = logging.getLogger(__name__)

Verifier = Callable[[bytes, bytes], bool]
"""``verify(signing_input, signature) -> bool``: one key, one algorithm."""

MIN_RSA_BITS = 2048
EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
# Every member that decides what a key verifies: private members (d, p, q...) never count.
PUBLIC_MEMBERS = ("kid", "kty", "n", "e", "crv", "x", "y", "use", "key_ops", "alg")
_HASHES = {"256": "SHA256", "384": "SHA384", "512": "SHA512"}


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
"""A JWK member that is not there: ``"use": null`` is present (and invalid), not absent."""


class UnusableKeyError(ValueError):
    """A JWK that cannot verify anything here (bad material, unsupported type or size)."""


class KeySetError(ValueError):
    """A document that is not a usable JWK Set; the message is for the log."""


def key_type_for(alg: str) -> str:
    """The JWK ``kty`` an algorithm needs (RFC 7518 §6.1): ``RSA`` for RS*/PS*, ``EC`` for ES*."""
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
    #: one per accepted algorithm the key's type and size can serve
    verifiers: Mapping[str, Verifier] = field(repr=False)
    fingerprint: str = field(default="", repr=False)
    #: the algorithms of ``verifiers`` its ``use``, ``key_ops`` and ``alg`` allow, judged
    #: once by ``binding_refusal`` so that selecting the key per request is a lookup
    bound_algs: frozenset[str] = frozenset()


def build_verifier(data: Mapping[str, Any], alg: str) -> Verifier:
    """A verifier for ``alg`` from the public JWK ``data`` (RFC 7518 §3, §6).

    The key must fit ``alg``: ``kty`` ``RSA`` of at least 2048 bits for RS*/PS*, ``EC``
    on the curve of ``alg`` for ES*. Private members are ignored. Raises
    Raises ``UnusableKeyError`` otherwise. For keys that travel with a JWS (a DPoP proof's
    ``jwk``); key-set keys are built by ``build_signing_key``.
    """
    if alg not in ASYMMETRIC_ALGORITHMS:
        raise UnusableKeyError("not an asymmetric JWS algorithm")
    if data.get("kty") != key_type_for(alg) or (
        alg in EC_CURVES and data.get("crv") != EC_CURVES[alg]
    ):
        raise UnusableKeyError("key type does not fit alg")
    return _verifiers(data, [alg])[alg]


def build_signing_key(data: Mapping[str, Any], algorithms: Iterable[str]) -> SigningKey:
    """One JWK of a set, with a verifier for each of ``algorithms`` its type can serve.

    Raises ``UnusableKeyError`` for a JWK without a string ``kid``, of another ``kty``
    than RSA/EC, or whose material is bad or too small.
    """
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
    key = SigningKey(
        kid=kid,
        kty=kty,
        crv=crv if isinstance(crv, str) else None,
        use=data.get("use", ABSENT),
        key_ops=data.get("key_ops", ABSENT),
        alg=data.get("alg", ABSENT),
        verifiers=_verifiers(data, candidates),
        fingerprint=public_fingerprint(data),
    )
    bound = frozenset(alg for alg in key.verifiers if binding_refusal(key, alg) is None)
    return replace(key, bound_algs=bound)


def public_fingerprint(data: Mapping[str, Any]) -> str:
    """The JWK's public members as canonical JSON: equal strings mean an identical key.
    Raises ``UnusableKeyError`` for a JWK without them."""
    try:
        return json.dumps(
            {name: data[name] for name in PUBLIC_MEMBERS if name in data},
            sort_keys=True,
            separators=(",", ":"),
        )
    except (ValueError, TypeError, RecursionError) as exc:  # a hostile, deeply nested member
        raise UnusableKeyError("JWK members cannot be compared") from exc


def parse_jwk_set(
    document: bytes, algorithms: Iterable[str], known: Iterable[SigningKey] = ()
) -> dict[str, tuple[SigningKey, ...]]:
    """The usable keys of a JWK Set document (RFC 7517 §5), grouped by ``kid``.

    ``document``: the bytes fetched; ``known``: keys of the previous set, reused when a
    JWK's public members are unchanged. Unusable entries are skipped, but one that
    shares a usable key's ``kid`` makes that ``kid`` ambiguous (SPEC §3 step 3: exactly
    one entry). Raises ``KeySetError`` when the document is not a JSON object with a
    ``keys`` array or holds no usable key: such a set never replaces good keys.
    """
    try:
        parsed = parse_object(document, unique_members=False)
    except JSONError as exc:
        raise KeySetError(str(exc)) from None
    entries = parsed.get("keys")
    if not isinstance(entries, list):
        raise KeySetError("not a JSON object with a `keys` array")
    algorithms = tuple(algorithms)
    reusable = {key.fingerprint: key for key in known}
    keys: dict[str, list[SigningKey]] = {}
    skipped_kids: list[str] = []
    skipped = 0
    for entry in entries:
        try:
            if not isinstance(entry, dict):
                raise UnusableKeyError("not a JSON object")
            key = reusable.get(public_fingerprint(entry)) or build_signing_key(entry, algorithms)
        except UnusableKeyError:
            skipped += 1
            if isinstance(entry, dict) and isinstance(entry.get("kid"), str):
                skipped_kids.append(entry["kid"])
            continue
        keys.setdefault(key.kid, []).append(key)
    if skipped:
        logger.info("JWK Set: skipped %d unusable key(s)", skipped)
    for kid in skipped_kids:
        if kid in keys:
            keys[kid].append(_unusable_key(kid))
    if not any(key.verifiers for group in keys.values() for key in group):
        raise KeySetError("no usable key in the set")
    return {kid: tuple(group) for kid, group in keys.items()}


def select_key(candidates: tuple[SigningKey, ...], alg: str) -> SigningKey:
    """SPEC §3 step 3: the one entry with the token's ``kid``, bound to ``alg``.

    ``candidates``: every key-set entry with that ``kid``. Raises ``InvalidTokenError``
    for none or several, or a key that ``binding_refusal`` refuses for ``alg``.
    """
    if len(candidates) != 1:
        raise InvalidTokenError("no single key with this kid")
    key = candidates[0]
    if alg not in key.bound_algs:
        raise InvalidTokenError(binding_refusal(key, alg) or "key not bound to alg")
    return key


def binding_refusal(key: SigningKey, alg: str) -> str | None:
    """Why ``key`` may not verify a token signed with ``alg``, or None if it may.

    Its ``use`` absent or ``sig``, its ``key_ops`` absent or holding ``verify``, its
    ``kty`` (and ``crv``) fitting ``alg``, its ``alg`` absent or equal (SPEC §3 step 3).
    Absent members pass; present ones, even null, must say so (RFC 7517 §4.2-§4.4).
    """
    if key.use is not ABSENT and key.use != "sig":
        return "key not for signatures"
    if key.key_ops is not ABSENT and (
        not isinstance(key.key_ops, list) or "verify" not in key.key_ops
    ):
        return "key_ops without verify"
    if key.kty != key_type_for(alg) or (key.kty == "EC" and key.crv != EC_CURVES[alg]):
        return "key type does not match alg"
    if key.alg is not ABSENT and key.alg != alg:
        return "key bound to another alg"
    if alg not in key.verifiers:
        return "key cannot verify this alg"
    return None


def _unusable_key(kid: str) -> SigningKey:
    """Stands for a skipped JWK that shares ``kid`` with a usable one: the kid is ambiguous."""
    return SigningKey(
        kid=kid, kty="", crv=None, use=ABSENT, key_ops=ABSENT, alg=ABSENT, verifiers={}
    )


def _verifiers(data: Mapping[str, Any], algorithms: list[str]) -> dict[str, Verifier]:
    """One verifier per algorithm (all of the JWK's type), from its public members."""
    try:
        if data["kty"] == "RSA":
            return _rsa_verifiers(data, algorithms)
        return _ec_verifiers(data, algorithms)
    except (JOSEError, ValueError, TypeError, KeyError, OverflowError) as exc:
        raise UnusableKeyError("bad key material") from exc


def _rsa_verifiers(data: Mapping[str, Any], algorithms: list[str]) -> dict[str, Verifier]:
    public = {"kty": "RSA", "n": data["n"], "e": data["e"]}
    if not all(isinstance(public[k], str) for k in ("n", "e")):
        raise UnusableKeyError("RSA parameters must be strings")
    key = jwk.construct(public, "RS256").prepared_key
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise UnusableKeyError("RSA key too small")
    verifiers: dict[str, Verifier] = {}
    for alg in algorithms:
        hash_cls = getattr(hashes, _HASHES[alg[2:]])
        if alg.startswith("RS"):
            verifiers[alg] = _rsa_verifier(key, padding.PKCS1v15(), hash_cls())
        else:  # RFC 7518 §3.5: MGF1 with the same hash, salt = digest length
            pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls.digest_size)
            verifiers[alg] = _rsa_verifier(key, pss, hash_cls())
    return verifiers


def _ec_verifiers(data: Mapping[str, Any], algorithms: list[str]) -> dict[str, Verifier]:
    public = {"kty": "EC", "crv": data["crv"], "x": data["x"], "y": data["y"]}
    if not all(isinstance(public[k], str) for k in ("crv", "x", "y")):
        raise UnusableKeyError("EC parameters must be strings")
    if public["crv"] not in EC_CURVES.values():
        raise UnusableKeyError("unsupported curve")
    curve_alg = next(a for a, c in EC_CURVES.items() if c == public["crv"])
    key = jwk.construct(public, curve_alg).prepared_key
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UnusableKeyError("not an EC public key")
    # python-jose's verify turns the JWS r||s signature into the DER form cryptography takes.
    return {alg: CryptographyECKey(key, alg).verify for alg in algorithms}


def _rsa_verifier(
    key: rsa.RSAPublicKey, pad: padding.AsymmetricPadding, algorithm: hashes.HashAlgorithm
) -> Verifier:
    """RSASSA-PKCS1-v1_5 or -PSS (RFC 7518 §3.3, §3.5) with padding and hash built once:
    python-jose's own ``verify`` rebuilds them on every call."""

    def verify(message: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, message, pad, algorithm)
        except InvalidSignature:
            return False
        return True

    return verify
