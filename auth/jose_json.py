"""JSON text as JOSE documents are read here (RFC 8259): strictly, and numbers by meaning.

JWS headers and payloads (RFC 7515 §4, RFC 7519 §4) and JWK Set documents
(RFC 7517 §5) are JSON objects. ``NaN`` and ``Infinity`` are not JSON (RFC
8259 §6) and are refused; JOSE headers and claim sets also refuse duplicate
member names (RFC 7515 §4: they MUST be unique), which a key set may contain
(RFC 7517 §4 allows the last one to win).

A number is judged by what it means, never by where the interpreter gave up.
CPython refuses to turn an integer of more than 4300 digits into an ``int``
(``sys.get_int_max_str_digits``, a guard against quadratic conversions), and
its ``ValueError`` would make a valid document look like "not JSON". Such an
integer is read as a float instead, that is as plus or minus infinity (its
magnitude is past any double), exactly as the parser already reads ``1e400``:
the checks downstream then refuse it for what it is (a NumericDate out of
range is ``invalid_claims``, a key member that is not a string skips that key).
The interpreter limit itself is never raised: it protects the whole process.
The common path pays nothing for this: the C scanner parses integers itself,
and only a document that trips the limit is read a second time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.scanner import make_scanner
from typing import Any

_JSON_WHITESPACE = " \t\n\r"

Scanner = Callable[[str, int], tuple[Any, int]]


class JSONError(ValueError):
    """Not JSON text, not an object, or a value refused here (NaN, a repeated member)."""


class _Refused(ValueError):
    """Raised by the parser hooks: a value that is JSON to Python but not to RFC 8259."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused("duplicate member name")
    return obj


def _reject_constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def _int_by_meaning(digits: str) -> int | float:
    """An integer, or past the interpreter's digit limit the float it rounds to (+-inf)."""
    try:
        return int(digits)
    except ValueError:
        return float(digits)


def _scanners(unique_members: bool) -> tuple[Scanner, Scanner]:
    """(fast, by meaning): built once, since ``json.loads`` with hooks builds a new one per call."""
    hooks: dict[str, Any] = {"parse_constant": _reject_constant}
    if unique_members:
        hooks["object_pairs_hook"] = _unique_members
    # typeshed types make_scanner's context as a scanner; it is the decoder (json.decoder).
    fast = make_scanner(json.JSONDecoder(**hooks))  # type: ignore[arg-type]
    by_meaning = make_scanner(json.JSONDecoder(parse_int=_int_by_meaning, **hooks))  # type: ignore[arg-type]
    return fast, by_meaning


_STRICT = _scanners(unique_members=True)
_LAST_MEMBER_WINS = _scanners(unique_members=False)


def parse_object(data: bytes, *, unique_members: bool = True) -> dict[str, Any]:
    """The JSON object encoded as UTF-8 in ``data``.

    ``unique_members``: refuse a repeated member name (JOSE headers and claim sets);
    False lets the last one win (JWK Sets). Raises ``JSONError`` for anything that is
    not one JSON object (invalid UTF-8 or JSON, another value, ``NaN``, nesting
    deeper than the interpreter's recursion limit). See the module docstring for
    numbers.
    """
    fast, by_meaning = _STRICT if unique_members else _LAST_MEMBER_WINS
    try:
        text = data.decode("utf-8").strip(_JSON_WHITESPACE)
        try:
            value, end = fast(text, 0)
        except (_Refused, json.JSONDecodeError):
            raise
        except ValueError:
            # A bare ValueError here comes only from int() past the interpreter's digit
            # limit: read the text again with integers judged by meaning.
            value, end = by_meaning(text, 0)
    except (ValueError, RecursionError, StopIteration):
        raise JSONError("not JSON") from None
    if end != len(text) or not isinstance(value, dict):
        raise JSONError("not a JSON object")
    return value
