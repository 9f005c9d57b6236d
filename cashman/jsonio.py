"""JSON in and out without binary floating point (SPEC §4: amounts are exact decimals).

Request bodies are parsed with every number a ``Decimal`` (``0.1`` stays ``0.1``; a
5000-digit integer or ``1E+1000000000000000000`` is a number the schema judges, not a
parse error); ``NaN`` and ``Infinity`` become Decimal specials that the schemas refuse
with a 422; a member named twice is refused. Responses are written by simplejson, which
writes a ``Decimal`` as the number literal it is (``0.30``): compact, ASCII only.
"""

from __future__ import annotations

import decimal
import json
from decimal import Decimal, InvalidOperation
from typing import Any

import simplejson
from flask.json.provider import DefaultJSONProvider


class DuplicateMemberError(ValueError):
    """A JSON object names a member twice (RFC 8259 §4: names SHOULD be unique)."""


# stand-ins for numbers whose exponent no Decimal can hold (see exact_number)
_HUGE = Decimal(f"1E+{decimal.MAX_EMAX}")
_TINY = Decimal(f"1E{decimal.MIN_ETINY}")


def exact_number(text: str) -> Decimal:
    """A JSON number literal as the ``Decimal`` it means, whatever its size.

    A ``Decimal`` cannot hold an exponent past about 10**18 in either direction, and
    building one from ``1E+1000000000000000000`` raises ``InvalidOperation``. A body
    of at most 64 KiB cannot have enough digits to bring such a number back near 1,
    so it is astronomically large or small: it becomes the largest or the smallest
    ``Decimal`` of the same sign, which lies on the same side of every bound the API
    checks, and a zero stays a zero.
    """
    try:
        return Decimal(text)
    except InvalidOperation:
        mantissa, _, exponent = text.lower().partition("e")
        negative = mantissa.startswith("-")
        if not mantissa.strip("-0."):
            return Decimal("-0" if negative else "0")
        magnitude = _TINY if exponent.startswith("-") else _HUGE
        return magnitude.copy_negate() if negative else magnitude


def loads_exact(data: str | bytes) -> Any:
    """Parse JSON text; numbers with a fraction or exponent become ``Decimal``."""
    return json.loads(data, parse_float=exact_number, parse_constant=Decimal)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # {"amount": 1, "amount": 2} must not quietly mean 2: a proxy or a log may read 1
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise DuplicateMemberError("duplicate member name")
    return obj


# built once (json.loads with hooks builds a decoder per call); every number is a Decimal,
# so a 5000-digit integer is a number the schema refuses, not Python's int-digit limit
_BODY_DECODER = json.JSONDecoder(
    parse_float=exact_number,
    parse_int=exact_number,
    parse_constant=Decimal,
    object_pairs_hook=_unique_members,
)


def loads_body(text: str) -> Any:
    """Parse a request body: every number a ``Decimal``; duplicate names raise
    ``DuplicateMemberError``, anything else that is not JSON ``ValueError``."""
    return _BODY_DECODER.decode(text)


# one encoder for every response: Flask's default for the types JSON lacks (dates,
# dataclasses), tuples as arrays as the standard library writes them
_ENCODER = simplejson.JSONEncoder(
    use_decimal=True,
    allow_nan=False,
    separators=(",", ":"),
    namedtuple_as_object=False,
    default=DefaultJSONProvider.default,
)
# the string escaper of that encoder (C), for JSON text written by hand (listing.py)
quote_string = simplejson.encoder.encode_basestring_ascii


def dumps_exact(obj: Any) -> str:
    """Compact ASCII JSON where a ``Decimal`` is a number literal (``0.30``), never a
    float or a string; a NaN or infinite number raises ``ValueError``."""
    return _ENCODER.encode(obj)


class ExactJSONProvider(DefaultJSONProvider):
    """Flask JSON provider: exact decimals both ways, keys in schema order."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """``dumps_exact``, whatever ``kwargs`` Flask passes (answers are always compact)."""
        return dumps_exact(obj)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """``loads_exact``: numbers with a fraction or exponent become ``Decimal``."""
        return loads_exact(s)
