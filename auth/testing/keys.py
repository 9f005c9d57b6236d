"""Key material and JWS signing for the test kit (RFC 7515, RFC 7517, RFC 7518, RFC 7638;
RFC 8037 and RFC 9864 for Edwards curve keys).

Everything here is computed from the RFCs' definitions rather than imported from the
verifier, so a token or proof the kit makes is an independent check of what the verifier
expects.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import sys
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

if TYPE_CHECKING:
    PrivateKey = (
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey
    )


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
"""A claim or header value that removes the default instead of setting it."""

HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
_CRV_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
DPOP_PRIVATE_MEMBERS = {"RSA": ("d", "p", "q", "dp", "dq", "qi"), "EC": ("d",), "OKP": ("d",)}
# RFC 8037 §3.1 (EdDSA, either curve) and RFC 9864 §2.2 (Ed25519): the Edwards curve keys
_EDWARDS_KEYS = {
    "EdDSA": (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey),
    "Ed25519": (ed25519.Ed25519PrivateKey,),
    "Ed448": (ed448.Ed448PrivateKey,),
}
EDWARDS_ALGORITHMS = tuple(_EDWARDS_KEYS)
_RAW = {"encoding": serialization.Encoding.Raw}
_NONE = serialization.NoEncryption()


def generate_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A fresh RSA private key of ``bits`` bits (about 50 ms for 2048 bits)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def shared_rsa_key(slot: int = 0) -> rsa.RSAPrivateKey:
    """One RSA-2048 key per ``slot`` per process: tests stay fast and keys stay distinct."""
    return generate_rsa_key()


def generate_ec_key(alg: str = "ES256") -> ec.EllipticCurvePrivateKey:
    """A fresh EC private key on the curve ``alg`` needs (ES256/384/512; else ``KeyError``)."""
    return ec.generate_private_key(_CURVES[alg]())


_KEY_NEEDED = {"ES": "an EC private key on its curve", "RS": "an RSA private key"}
_KEY_NEEDED["PS"] = _KEY_NEEDED["RS"]


def generate_edwards_key(alg: str = "EdDSA") -> ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey:
    """A fresh Edwards curve private key for ``alg``: Ed448 for ``Ed448``, else Ed25519
    (``EdDSA`` and ``Ed25519``)."""
    if alg == "Ed448":
        return ed448.Ed448PrivateKey.generate()
    return ed25519.Ed25519PrivateKey.generate()


def check_key_fits(alg: str, key: Any) -> None:
    """``ValueError`` unless ``key`` (a private key) can sign ``alg``: ES* an EC key on the
    curve RFC 7518 §3.4 names, RS*/PS* an RSA key, ``EdDSA`` an Ed25519 or Ed448 key,
    ``Ed25519`` and ``Ed448`` a key of that curve (RFC 8037, RFC 9864)."""
    if alg in _EDWARDS_KEYS:
        if not isinstance(key, _EDWARDS_KEYS[alg]):
            raise ValueError(f"{alg} needs an Edwards curve key, not {type(key).__name__}")
        return
    if alg.startswith("ES"):
        fits = isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, _CURVES[alg])
    else:
        fits = isinstance(key, rsa.RSAPrivateKey)
    if not fits:
        raise ValueError(f"{alg} needs {_KEY_NEEDED[alg[:2]]}, not {type(key).__name__}")


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int, length: int | None = None) -> str:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def public_jwk(key: PrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    """The public JWK (RFC 7517/7518 §6) of ``key``; ``extra`` adds members like ``use``/``alg``.

    ``OMIT`` as ``kid`` or as an ``extra`` value leaves that member out.
    """
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        data = {"kty": "RSA", "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
    elif isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        raw = key.public_key().public_bytes(format=serialization.PublicFormat.Raw, **_RAW)
        crv = "Ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "Ed448"
        data = {"kty": "OKP", "crv": crv, "x": b64url(raw)}  # RFC 8037 §2
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


def private_jwk(key: PrivateKey) -> dict[str, Any]:
    """The JWK of ``key`` with its private members (for "private key embedded" proofs)."""
    data = public_jwk(key, OMIT, use=OMIT)
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        values = (numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp)
        data.update(zip(DPOP_PRIVATE_MEMBERS["RSA"], map(_int_b64, values), strict=True))
    elif data["kty"] == "OKP":
        private = serialization.PrivateFormat.Raw
        data["d"] = b64url(key.private_bytes(format=private, encryption_algorithm=_NONE, **_RAW))
    else:
        size = (key.curve.key_size + 7) // 8
        data["d"] = _int_b64(key.private_numbers().private_value, size)
    return data


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of an EC, RSA or OKP (RFC 8037 §2) public JWK (its
    required members only)."""
    names = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}.get(
        jwk["kty"], ("e", "kty", "n")
    )
    canonical = json.dumps({name: jwk[name] for name in names}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def sign(signing_input: bytes, alg: str, key: PrivateKey | bytes) -> bytes:
    """A JWS signature (RFC 7518 §3) of ``signing_input`` with ``alg``; HS* takes bytes.

    Raises ``TypeError`` when ``key`` is not the kind ``alg`` signs with (bytes for HS*,
    an RSA key for RS*/PS*, an EC key for ES*, an Edwards curve key for ``EdDSA``,
    ``Ed25519`` and ``Ed448``), ``KeyError`` for an unknown hash.
    """
    if alg in _EDWARDS_KEYS:
        if not isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            raise TypeError(f"{alg} signs with an Edwards curve key, not {type(key).__name__}")
        return key.sign(signing_input)  # RFC 8037 §3.1: the message itself, no hash first
    digest = HASHES[alg[2:]]
    if alg.startswith("HS"):
        if not isinstance(key, bytes):
            raise TypeError("HS* signs with a bytes secret")
        return hmac.new(key, signing_input, getattr(hashlib, digest.name)).digest()
    if alg.startswith(("RS", "PS")) and not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(f"{alg} signs with an RSA private key, not {type(key).__name__}")
    if alg.startswith("RS"):
        return key.sign(signing_input, padding.PKCS1v15(), digest())
    if alg.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(digest()), salt_length=digest.digest_size)
        return key.sign(signing_input, pss, digest())
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{alg} signs with an EC private key, not {type(key).__name__}")
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest())))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def segment(part: Mapping[str, Any] | bytes | str | list[Any] | int | float | None) -> str:
    """A compact JWS segment (RFC 7515 §7.1): JSON values serialized, bytes/str taken as-is.

    Integers of any size are written in full (``"exp": 10**5000``, an attack the verifier
    must survive), past the 4300 digits Python's ``str(int)`` stops at."""
    if isinstance(part, bytes):
        return b64url(part)
    if isinstance(part, str):
        return b64url(part.encode("utf-8"))
    huge: list[int] = []
    mark = f"huge-int-{uuid.uuid4().hex}-"  # no string of the caller's holds it
    text = json.dumps(_mark_huge(part, huge, mark), separators=(",", ":"), allow_nan=True)
    for index, number in enumerate(huge):
        text = text.replace(f'"{mark}{index}"', _decimal(number), 1)
    return b64url(text.encode("utf-8"))


def _digits_allowed() -> int:
    """The most decimal digits ``str(int)`` writes here (``sys.set_int_max_str_digits``,
    ``PYTHONINTMAXSTRDIGITS``; 0 means no limit), less a margin."""
    limit = sys.get_int_max_str_digits()
    return limit - 1 if limit else 1 << 30


def _mark_huge(value: Any, huge: list[int], mark: str) -> Any:
    """``value`` with every integer too long for ``str()`` replaced by ``mark`` and its
    index in ``huge``."""
    # 3.33 bits a digit: an integer of this many bits has fewer digits than allowed
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value.bit_length() > _digits_allowed() * 3
    ):
        huge.append(value)
        return f"{mark}{len(huge) - 1}"
    if isinstance(value, Mapping):
        return {key: _mark_huge(item, huge, mark) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mark_huge(item, huge, mark) for item in value]
    return value


def _decimal(number: int) -> str:
    """``str(number)`` for any size, in chunks ``str()`` accepts."""
    digits = min(_digits_allowed(), 4000)
    sign, number = ("-", -number) if number < 0 else ("", number)
    chunks = []
    while number:
        number, chunk = divmod(number, 10**digits)
        chunks.append(chunk)
    if not chunks:
        return "0"
    head, *rest = reversed(chunks)
    return sign + str(head) + "".join(str(chunk).zfill(digits) for chunk in rest)


def merge(base: dict[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """``base`` updated with ``changes``; members set to ``OMIT`` are dropped."""
    merged = {**base, **(changes or {})}
    return {k: v for k, v in merged.items() if v is not OMIT}
