"""An independent answer to "is this token valid?", written from the SPEC, not from auth/.

The property tests compare the verifier with this oracle: the signature is
checked with ``cryptography`` directly on the exact signing input as it was
sent (so a change to any byte of the header or payload breaks it), and the
header and claim rules are SPEC §3 restated. The oracle knows the one key the
kit publishes, the issuer, the audience and the leeway; nothing else is valid.

``problems`` lists every rule a token breaks with the SPEC ``code`` each one
earns, so a test can ask that the verifier's answer is one of them whatever
order it checks in. Numbers are read as exact ``Decimal``s, which have no
digit limit: a NumericDate of 4301 digits is simply out of range here, the way
RFC 8259 and RFC 7519 mean it, whatever the interpreter can convert.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
MAX_NUMERIC_DATE = 253402300799  # year 9999: past it no NumericDate is meaningful
MAX_TOKEN_LENGTH = 8192  # SPEC §3 step 1
INVALID_TOKEN, INVALID_CLAIMS, TOKEN_EXPIRED = "invalid_token", "invalid_claims", "token_expired"


class Invalid(Exception):
    """The token is not even a compact JWS with JSON-object parts: ``invalid_token``."""


def _b64(segment: str) -> bytes:
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise Invalid("not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise Invalid("not base64url") from None
    # one spelling per byte string (RFC 4648 §3.5): no stray bits in the last character
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
        raise Invalid("not canonical base64url")
    return data


def _object(data: bytes) -> dict[str, Any]:
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise Invalid("duplicate member")
        return dict(pairs)

    def no_constants(name: str) -> Any:
        raise Invalid(name)

    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=unique,
            parse_constant=no_constants,
            parse_int=Decimal,
            parse_float=Decimal,
        )
    except (ValueError, RecursionError):
        raise Invalid("not JSON") from None
    if not isinstance(value, dict):
        raise Invalid("not an object")
    return value


def _date(claims: dict[str, Any], name: str, found: dict[str, str]) -> Decimal | None:
    """The NumericDate ``name`` (None if absent or malformed: the reason goes to ``found``)."""
    if name not in claims:
        return None
    value = claims[name]
    if not isinstance(value, Decimal) or not value.is_finite():
        found[f"{name} not a number"] = INVALID_CLAIMS
        return None
    if not 0 <= value <= MAX_NUMERIC_DATE:
        found[f"{name} out of range"] = INVALID_CLAIMS
        return None
    return value


def _header_problems(header: dict[str, Any], kid: str) -> dict[str, str]:
    found = {}
    if header.get("alg") != "RS256" or header.get("kid") != kid:
        found["alg or kid"] = INVALID_TOKEN
    typ = header.get("typ")
    if "typ" in header and (
        not isinstance(typ, str)
        or typ.lower().removeprefix("application/") not in ("jwt", "at+jwt")
    ):
        found["typ"] = INVALID_TOKEN
    if "crit" in header:
        found["crit"] = INVALID_TOKEN
    if "cty" in header:  # nested tokens are never accepted
        found["cty"] = INVALID_TOKEN
    return found


def _claim_problems(
    claims: dict[str, Any], *, issuer: str, audience: str, now: float, leeway: float
) -> dict[str, str]:
    found = {}
    if "cnf" in claims:  # key-bound: never a Bearer token
        found["cnf"] = INVALID_TOKEN
    if claims.get("iss") != issuer:
        found["iss"] = INVALID_CLAIMS
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud
    if not isinstance(auds, list) or audience not in auds or any(type(a) is not str for a in auds):
        found["aud"] = INVALID_CLAIMS
    sub = claims.get("sub")
    if type(sub) is not str or not 0 < len(sub) <= 255:
        found["sub"] = INVALID_CLAIMS
    elif any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in sub):
        found["sub control character"] = INVALID_CLAIMS
    exp, nbf, iat = (_date(claims, name, found) for name in ("exp", "nbf", "iat"))
    now_d, leeway_d = Decimal(now), Decimal(str(leeway))
    if "exp" not in claims:
        found["no exp"] = INVALID_CLAIMS
    elif exp is not None and now_d >= exp + leeway_d:
        found["expired"] = TOKEN_EXPIRED
    for name, value in (("nbf", nbf), ("iat", iat)):
        if value is not None and value > now_d + leeway_d:
            found[f"{name} in the future"] = INVALID_CLAIMS
    return found


def problems(
    token: str,
    public_key: rsa.RSAPublicKey,
    *,
    kid: str,
    issuer: str,
    audience: str,
    now: float,
    leeway: float = 30,
) -> dict[str, str]:
    """Every rule ``token`` breaks, as {reason: SPEC code}; empty for a valid RS256 token."""
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return {"not an ASCII token of at most 8 KiB": INVALID_TOKEN}
    parts = token.split(".")
    if len(parts) != 3:
        return {"not three parts": INVALID_TOKEN}
    try:
        header, claims = _object(_b64(parts[0])), _object(_b64(parts[1]))
        signature = _b64(parts[2])
    except Invalid as exc:
        return {str(exc): INVALID_TOKEN}
    found = _header_problems(header, kid)
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        found["signature"] = INVALID_TOKEN
    found.update(_claim_problems(claims, issuer=issuer, audience=audience, now=now, leeway=leeway))
    return found


def is_valid(token: str, public_key: rsa.RSAPublicKey, **context: Any) -> bool:
    """Whether ``problems`` finds none."""
    return not problems(token, public_key, **context)
