"""The key of a DPoP proof: its header's ``jwk`` checked against ``alg``, turned into a
verifier, and its RFC 7638 thumbprint (``jkt``).

RFC 9449 §4.3 check 5-6 and SPEC §3a step 3: the ``jwk`` is a public key that fits
``alg`` (RSA of at least 2048 bits, EC on the curve of ``alg``, or an RFC 8037 OKP key
on an Edwards curve of ``alg``: Ed25519 or Ed448 for ``EdDSA``, the named one for
``Ed25519`` and ``Ed448``, and of no small order) and holds no private member. Members
are read as strictly as a key set's (RFC 7518 §6: base64url without padding, EC
coordinates and OKP keys at their full length, RSA integers without leading zero octets,
OKP keys in their one canonical encoding, RFC 8032 §5.1.3, §5.2.3), so one key has
exactly one thumbprint. An EC key (every ES* proof: the common case) becomes a
``cryptography`` key straight from its point, with the ECDSA signature check set up once
per key: a proof's check is then the bare ES256 verification and the RFC 7518 §3.4
conversion of ``R || S``. An OKP key becomes one the same way (RFC 8037 §3.1: the
signature is checked as it is). RSA keys are built by the code that builds JWKS keys
(``auth.keyset``).

The key is chosen by the client, so its cost is bounded too: RSA moduli up to 8192 bits
and public exponents below 2**31 (the bound Go's ``crypto/rsa`` applies); a huge
exponent would make one verification take a fraction of a second.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from auth.errors import InvalidDPoPProofError, InvalidTokenError
from auth.jws import decode_segment
from auth.keyset import EC_CURVES, UnusableKeyError, Verifier, build_signing_key, key_type_for

# RFC 7518 §6.2.2 and §6.3.2 (private EC and RSA members), §6.4.1 (symmetric `k`)
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
# RFC 7638 §3.2 (and RFC 8037 §2 for OKP): the required members of each key type, which
# alone make the thumbprint
REQUIRED_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
MAX_RSA_BITS = 8192
MAX_RSA_EXPONENT = 2**31 - 1
_COORDINATE_BYTES = {"P-256": 32, "P-384": 48, "P-521": 66}

try:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
except ImportError:
    # As in auth.keyset: the package still imports, and start-up refuses in one line.
    _ECDSA: dict[str, tuple[Any, Any]] = {}
    _EDWARDS: dict[str, tuple[Any, int]] = {}
else:
    # RFC 7518 §3.4: each ES* algorithm's curve and hash
    _ECDSA = {
        "ES256": (ec.SECP256R1, hashes.SHA256),
        "ES384": (ec.SECP384R1, hashes.SHA384),
        "ES512": (ec.SECP521R1, hashes.SHA512),
    }
    # RFC 8037 §2: each OKP signing curve's key class and public key length in octets
    _EDWARDS = {
        "Ed25519": (ed25519.Ed25519PublicKey, 32),
        "Ed448": (ed448.Ed448PublicKey, 57),
    }
# RFC 8037 §3.1: EdDSA signs with either curve; RFC 9864 §2.2: Ed25519 and Ed448 name theirs
EDWARDS_CURVES = {"EdDSA": ("Ed25519", "Ed448"), "Ed25519": ("Ed25519",), "Ed448": ("Ed448",)}
# Each curve's field prime, and the y of every point of small order, whichever the sign of
# x (RFC 8032 §5.1, §5.2; Ed25519's are libsodium's blocklist): a public key there verifies
# a forged signature (R the identity, S = 0) for any message, so a token bound to it would
# be a bearer token again
_EDWARDS_PRIMES = {"Ed25519": 2**255 - 19, "Ed448": 2**448 - 2**224 - 1}
_SMALL_ORDER_Y = {
    "Ed25519": frozenset(
        {
            0,
            1,
            2**255 - 20,
            2707385501144840649318225287225658788936804267575313519463743609750303402022,
            55188659117513257062467267217118295137698188065244968500265048394206261417927,
        }
    ),
    "Ed448": frozenset({0, 1, 2**448 - 2**224 - 2}),
}


class ProofKey(NamedTuple):
    """A proof's public key: its thumbprint and a ``verify(message, signature)``."""

    jkt: str
    verify: Verifier


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of an EC, RSA or OKP (RFC 8037 §2) JWK, base64url
    without padding.

    Only the required members count (§3.2), serialised with no whitespace in
    lexicographic order. ``ValueError`` for another key type or a missing member.
    """
    kty = jwk.get("kty")
    members = REQUIRED_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise ValueError("not an EC, RSA or OKP public JWK")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return _b64url(digest)


def proof_key(jwk: object, alg: str) -> ProofKey:
    """The key of a proof header's ``jwk`` for ``alg``; ``InvalidDPoPProofError`` if unfit."""
    if not isinstance(jwk, dict):
        raise InvalidDPoPProofError("jwk is not a JSON object")
    if any(name in jwk for name in PRIVATE_MEMBERS):
        raise InvalidDPoPProofError("jwk holds a private or symmetric key member")
    kty = jwk.get("kty")
    if kty != ("OKP" if alg in EDWARDS_CURVES else key_type_for(alg)):
        raise InvalidDPoPProofError("jwk kty does not fit alg")
    _check_optional_members(jwk, alg)
    if kty == "EC":
        _check_ec(jwk, alg)
    elif kty == "OKP":
        _check_okp(jwk, alg)
    else:
        _check_rsa(jwk)
    public = {name: jwk[name] for name in REQUIRED_MEMBERS[kty]}
    jkt = jwk_thumbprint(public)
    if kty == "EC":
        return ProofKey(jkt, ecdsa_verifier(_member(jwk, "x"), _member(jwk, "y"), alg))
    if kty == "OKP":
        return ProofKey(jkt, eddsa_verifier(jwk["crv"], _member(jwk, "x")))
    try:
        # kid = the thumbprint, as RFC 7638 §1 suggests; the key set code requires one
        verifier = build_signing_key({**public, "kid": jkt}, (alg,)).verifiers.get(alg)
    except UnusableKeyError:
        raise InvalidDPoPProofError("jwk is not a usable public key") from None
    if verifier is None:
        raise InvalidDPoPProofError("jwk cannot verify alg")
    return ProofKey(jkt, verifier)


def ecdsa_verifier(x: bytes, y: bytes, alg: str) -> Verifier:
    """``verify(message, signature)`` for ``alg`` (ES256/384/512) with the public point
    (``x``, ``y``), each coordinate at its curve's full length in octets.

    The signature is the JWS form, ``R || S`` (RFC 7518 §3.4); anything else is False.
    ``InvalidDPoPProofError`` when the point is not on the curve.
    """
    curve, digest = _ECDSA[alg]
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(curve(), b"\x04" + x + y)
    except ValueError:
        raise InvalidDPoPProofError("jwk is not a usable public key") from None
    algorithm = ec.ECDSA(digest())
    size = len(x)

    def verify(message: bytes, signature: bytes) -> bool:
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        try:
            key.verify(encode_dss_signature(r, s), message, algorithm)
        except InvalidSignature:
            return False
        return True

    return verify


def eddsa_verifier(crv: str, x: bytes) -> Verifier:
    """``verify(message, signature)`` with the public key ``x`` on Edwards curve ``crv``
    (``Ed25519`` or ``Ed448``, RFC 8037 §3.1: the signature is the curve's own encoding).
    ``InvalidDPoPProofError`` when ``x`` is not a key of that curve."""
    key_class, _size = _EDWARDS[crv]
    try:
        key = key_class.from_public_bytes(x)
    except (ValueError, UnsupportedAlgorithm):  # an OpenSSL built without Ed448
        raise InvalidDPoPProofError("jwk is not a usable public key") from None

    def verify(message: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    return verify


def _check_optional_members(jwk: Mapping[str, Any], alg: str) -> None:
    """RFC 7517 §4.2-§4.4: members the client chose to send must not contradict ``alg``."""
    if "use" in jwk and jwk["use"] != "sig":
        raise InvalidDPoPProofError("jwk use is not sig")
    key_ops = jwk.get("key_ops", ["verify"])
    if not isinstance(key_ops, list) or "verify" not in key_ops:
        raise InvalidDPoPProofError("jwk key_ops without verify")
    if "alg" in jwk and jwk["alg"] != alg:
        raise InvalidDPoPProofError("jwk bound to another alg")


def _check_ec(jwk: Mapping[str, Any], alg: str) -> None:
    crv = EC_CURVES[alg]
    if jwk.get("crv") != crv:
        raise InvalidDPoPProofError("jwk curve does not fit alg")
    size = _COORDINATE_BYTES[crv]
    # RFC 7518 §6.2.1.2-§6.2.1.3: each coordinate is exactly the curve's size in octets
    if len(_member(jwk, "x")) != size or len(_member(jwk, "y")) != size:
        raise InvalidDPoPProofError("jwk coordinate of the wrong length")


def _check_okp(jwk: Mapping[str, Any], alg: str) -> None:
    crv = jwk.get("crv")
    if crv not in EDWARDS_CURVES[alg]:  # X25519 and X448 are OKP too, for key agreement
        raise InvalidDPoPProofError("jwk curve does not fit alg")
    x = _member(jwk, "x")
    if len(x) != _EDWARDS[crv][1]:
        raise InvalidDPoPProofError("jwk x of the wrong length")
    # RFC 8032 §5.1.3, §5.2.3: y little-endian, then the sign of x in the top bit (Ed448:
    # a whole last octet of 0x00 or 0x80); one encoding per point, of no small order
    if crv == "Ed25519":
        y, spare_bits = int.from_bytes(x, "little") & ~(1 << 255), 0
    else:
        y, spare_bits = int.from_bytes(x[:-1], "little"), x[-1] & 0x7F
    if spare_bits or y >= _EDWARDS_PRIMES[crv] or y in _SMALL_ORDER_Y[crv]:
        raise InvalidDPoPProofError("jwk is not a usable public key")


def _check_rsa(jwk: Mapping[str, Any]) -> None:
    modulus, exponent = _member(jwk, "n"), _member(jwk, "e")
    # RFC 7518 §2 Base64urlUInt: the minimum number of octets, so no leading zero
    if not modulus or not exponent or modulus[0] == 0 or exponent[0] == 0:
        raise InvalidDPoPProofError("jwk RSA integer not in minimal form")
    if not modulus[-1] & 1:
        raise InvalidDPoPProofError("jwk RSA modulus is even")
    if int.from_bytes(modulus, "big").bit_length() > MAX_RSA_BITS:
        raise InvalidDPoPProofError("jwk RSA modulus too large")
    if int.from_bytes(exponent, "big") > MAX_RSA_EXPONENT:
        raise InvalidDPoPProofError("jwk RSA exponent too large")


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise InvalidDPoPProofError(f"jwk {name} is not a string")
    try:
        decoded = decode_segment(value)
    except InvalidTokenError:
        raise InvalidDPoPProofError(f"jwk {name} is not base64url") from None
    # only the canonical spelling: no "+", "/", "=" and no stray bits in the last character
    if _b64url(decoded) != value:
        raise InvalidDPoPProofError(f"jwk {name} is not canonical base64url")
    return decoded


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
