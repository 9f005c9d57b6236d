"""An independent answer to "is this token valid?", written from the SPEC, not from auth/.

The property tests compare the verifier with this oracle: the signature is
checked with ``cryptography`` directly on the exact signing input as it was
sent (so a change to any byte of the header or payload breaks it), and the
header and claim rules are SPEC §3 restated. The oracle knows the one key the
kit publishes, the issuer, the audience and the leeway; nothing else is valid.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
MAX_NUMERIC_DATE = 253402300799  # year 9999: past it no NumericDate is meaningful


class Invalid(Exception):
    """The oracle's reason for refusing a token (for hypothesis's failure report)."""


def _b64(segment: str) -> bytes:
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise Invalid("not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise Invalid("not base64url") from None


def _object(data: bytes) -> dict[str, Any]:
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise Invalid("duplicate member")
        return dict(pairs)

    def no_constants(name: str) -> Any:
        raise Invalid(name)

    try:
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=unique, parse_constant=no_constants
        )
    except (ValueError, RecursionError):
        raise Invalid("not JSON") from None
    if not isinstance(value, dict):
        raise Invalid("not an object")
    return value


def _date(claims: dict[str, Any], name: str) -> float | None:
    if name not in claims:
        return None
    value = claims[name]
    if type(value) not in (int, float) or not math.isfinite(value):
        raise Invalid(f"{name} not a number")
    if not 0 <= value <= MAX_NUMERIC_DATE:
        raise Invalid(f"{name} out of range")
    return float(value)


def check(
    token: str,
    public_key: rsa.RSAPublicKey,
    *,
    kid: str,
    issuer: str,
    audience: str,
    now: float,
    leeway: float = 30,
) -> dict[str, Any]:
    """The claims if ``token`` is valid for an RS256-only API; raise ``Invalid`` otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Invalid("not three parts")
    header, claims, signature = _object(_b64(parts[0])), _object(_b64(parts[1])), _b64(parts[2])
    if header.get("alg") != "RS256" or header.get("kid") != kid:
        raise Invalid("alg or kid")
    typ = header.get("typ")
    if "typ" in header and (
        not isinstance(typ, str)
        or typ.lower().removeprefix("application/") not in ("jwt", "at+jwt")
    ):
        raise Invalid("typ")
    if "crit" in header:
        raise Invalid("crit")
    if "cty" in header:  # nested tokens are never accepted
        raise Invalid("cty")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise Invalid("signature") from None
    if "cnf" in claims or claims.get("iss") != issuer:
        raise Invalid("cnf or iss")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud
    if not isinstance(auds, list) or audience not in auds or any(type(a) is not str for a in auds):
        raise Invalid("aud")
    exp, nbf, iat = _date(claims, "exp"), _date(claims, "nbf"), _date(claims, "iat")
    sub = claims.get("sub")
    if type(sub) is not str or not 0 < len(sub) <= 255:
        raise Invalid("sub")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in sub):
        raise Invalid("sub control character")
    if exp is None or now >= exp + leeway:
        raise Invalid("exp")
    if (nbf is not None and nbf > now + leeway) or (iat is not None and iat > now + leeway):
        raise Invalid("nbf or iat")
    return claims


def is_valid(token: str, public_key: rsa.RSAPublicKey, **context: Any) -> bool:
    try:
        check(token, public_key, **context)
    except Invalid:
        return False
    return True
