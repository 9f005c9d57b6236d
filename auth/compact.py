"""Strict parsing of a JWS Compact Serialization (RFC 7515 §7.1) into its parts.

Exactly three base64url segments without padding (RFC 7515 §2), a header and
a payload that are UTF-8 JSON objects with unique member names (RFC 7515
§4, RFC 7519 §4) and no NaN/Infinity. Any defect is an ``InvalidTokenError``
(401), never an exception that could become a 500.
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import urlsafe_b64decode
from dataclasses import dataclass
from typing import Any

from auth.errors import InvalidTokenError

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class CompactJWS:
    """The decoded parts of a compact JWS, not yet verified."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_compact(token: str) -> CompactJWS:
    """Split and decode ``token``; raise ``InvalidTokenError`` if it is not a compact JWS."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidTokenError("not three segments")
    header_b64, payload_b64, signature_b64 = parts
    header = _json_object(_b64decode(header_b64))
    payload = _json_object(_b64decode(payload_b64))
    signature = _b64decode(signature_b64)
    signing_input = token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
    return CompactJWS(header, payload, signing_input, signature)


def _b64decode(segment: str) -> bytes:
    """base64url without padding (RFC 7515 §2); a length of 4n+1 cannot be valid."""
    if len(segment) % 4 == 1 or not _SEGMENT.fullmatch(segment):
        raise InvalidTokenError("bad base64url")
    try:
        return urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidTokenError("bad base64url") from None


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_unique_members,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError):
        raise InvalidTokenError("not JSON") from None
    if not isinstance(value, dict):
        raise InvalidTokenError("not a JSON object")
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
