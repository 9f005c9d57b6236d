"""Strict parsing of a JWS Compact Serialization (RFC 7515 §7.1) into its parts.

Exactly three base64url segments without padding (RFC 7515 §2), a header and
a payload that are UTF-8 JSON objects with unique member names (RFC 7515
§4, RFC 7519 §4) and no NaN/Infinity. Any defect is an ``InvalidTokenError``
(401), never an exception that could become a 500. This runs on every
request, so it avoids per-call setup: one JSON scanner built at import.
"""

from __future__ import annotations

import binascii
import json
from typing import Any, NamedTuple

from auth.errors import InvalidTokenError

_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_JSON_WHITESPACE = " \t\n\r"


class CompactJWS(NamedTuple):
    """The decoded parts of a compact JWS, not yet verified."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_compact(token: str) -> CompactJWS:
    """Split and decode ``token``; raise ``InvalidTokenError`` if it is not a compact JWS."""
    header_b64, payload_b64, signature_b64 = split_compact(token)
    return CompactJWS(
        decode_json_segment(header_b64),
        decode_json_segment(payload_b64),
        signing_input(token, header_b64, payload_b64),
        decode_segment(signature_b64),
    )


def split_compact(token: str) -> tuple[str, str, str]:
    """The three segments of ``token``, still encoded."""
    parts = token.split(".")
    # base64url only: "+" and "/" belong to standard base64, "=" padding is not used (§2).
    if len(parts) != 3 or "+" in token or "/" in token or "=" in token:
        raise InvalidTokenError("not three base64url segments")
    return parts[0], parts[1], parts[2]


def signing_input(token: str, header_b64: str, payload_b64: str) -> bytes:
    """``ASCII(BASE64URL(header) || '.' || BASE64URL(payload))`` (RFC 7515 §5.2)."""
    return token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")


def decode_json_segment(segment: str) -> dict[str, Any]:
    """A header or payload segment: base64url of a UTF-8 JSON object."""
    return _json_object(decode_segment(segment))


def decode_segment(segment: str) -> bytes:
    """base64url without padding; a length of 4n+1 cannot be valid."""
    if len(segment) % 4 == 1:
        raise InvalidTokenError("bad base64url length")
    try:
        data = segment.encode("ascii")
        padded = (data + b"=" * (-len(data) % 4)).translate(_URLSAFE_TO_STANDARD)
        return binascii.a2b_base64(padded, strict_mode=True)
    except (UnicodeEncodeError, binascii.Error):
        raise InvalidTokenError("bad base64url") from None


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8").strip(_JSON_WHITESPACE)
        value, end = _SCANNER(text, 0)
    except (ValueError, RecursionError, StopIteration):
        raise InvalidTokenError("not JSON") from None
    if end != len(text) or not isinstance(value, dict):
        raise InvalidTokenError("not a JSON object")
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads(..., hooks) would build a new decoder and scanner on every call.
_SCANNER = json.JSONDecoder(
    object_pairs_hook=_unique_members, parse_constant=_reject_constant
).scan_once
