"""Marshmallow schemas: the only place request data is validated (SPEC §4).

Decisions where the SPEC is silent: a numeric string (``"12.5"``) is not a
number (422, as for booleans); descriptions are trimmed, then 1-200
characters, and control characters (tabs and newlines included) or lone
surrogates are refused; unknown body fields are refused while unknown query
parameters are ignored (so an ``access_token`` parameter is neither used
nor an error). ``limit`` is plain ASCII digits, no sign, no leading zero (a
Unicode digit or ``+5`` is not what a client meant to send), and ``limit`` or
``cursor`` given twice is a 422 rather than a silent pick of one.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from cashman.jsonio import dumps_exact
from cashman.models import Kind
from cashman.money import CENT, MAX_AMOUNT, has_two_places_at_most, is_in_range, to_cent
from cashman.paging import Cursor, InvalidCursorError

# created_at on the wire: ISO 8601 in UTC with microseconds (SPEC §4)
CREATED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
MAX_DESCRIPTION = 200
_FORBIDDEN_CATEGORIES = {"Cc", "Cs"}
MAX_PAGE_SIZE = 500
# [0-9] is ASCII only (int() also takes other scripts' digits); 3 digits bound int()
_PAGE_SIZE = re.compile(r"[1-9][0-9]{0,2}\Z")
PAGE_SIZE_MESSAGE = f"Must be an integer from 1 to {MAX_PAGE_SIZE}."


class Money(fields.Field):
    """A JSON number, at most two decimals, 0 < |amount| <= 1 000 000 000.

    Judged by the number it means however it is written (``1E+1000000``, 60 000
    digits): the checks are exact and cannot raise a ``decimal`` signal (money.py).
    """

    default_error_messages = {
        "invalid": "Not a valid number.",
        "special": "NaN and Infinity are not numbers.",
        "places": "At most two decimal places.",
        "range": "Must be greater than 0 and at most 1000000000.",
        "signed_range": "Must be from -1000000000 to 1000000000, and not 0.",
        "negative": "Must be greater than 0.",
    }

    def __init__(self, *, allow_negative: bool = False, **kwargs: Any) -> None:
        """``allow_negative``: also accept -1 000 000 000 <= amount < 0 (expenses);
        ``kwargs`` go to marshmallow's ``Field``."""
        super().__init__(**kwargs)
        self.allow_negative = allow_negative

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        # bool is an int in Python; a JSON string is not a number
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise self.make_error("invalid")
        amount = value if isinstance(value, Decimal) else Decimal(value)
        if not amount.is_finite():
            raise self.make_error("special")
        if amount < 0 and not self.allow_negative:
            raise self.make_error("negative")
        if not is_in_range(amount):
            raise self.make_error("signed_range" if self.allow_negative else "range")
        if not has_two_places_at_most(amount):
            raise self.make_error("places")
        return to_cent(amount)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Decimal | None:
        return None if value is None else to_cent(Decimal(value))


# What trimming removes: ECMA-262's WhiteSpace and LineTerminator (§12.2, §12.3), the set
# String.prototype.trim() and the pattern's \S below use, so a client checking the
# document agrees with the API. Python's str.strip() differs both ways: it keeps U+FEFF
# and removes the controls U+001C-U+001F and U+0085 (then accepted as text around them).
ECMA_WHITESPACE = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


class Description(fields.String):
    """Trimmed text of 1-200 characters without control characters."""

    default_error_messages = {
        "length": f"Must be 1 to {MAX_DESCRIPTION} characters after trimming spaces.",
        "control": "Must not contain control characters or lone surrogates.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip(ECMA_WHITESPACE)
        if not 1 <= len(text) <= MAX_DESCRIPTION:
            raise self.make_error("length")
        if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in text):
            raise self.make_error("control")
        return text


def _description_pattern() -> str:
    """The ECMA-262 pattern of what ``Description`` accepts, but for its length: trimmable
    spaces around text that starts and ends with a character trimming keeps and holds no
    C0 or C1 control (lone surrogates, which a pattern cannot name, are refused too).
    Written with \\u escapes, which Python's ``re`` and ECMA-262 read alike, not \\s or
    \\S, which they do not (Python's \\s holds U+001C-U+001F and U+0085, not U+FEFF)."""
    space = _ranges(sorted(map(ord, ECMA_WHITESPACE)))
    control = "\\u0000-\\u001f\\u007f-\\u009f"
    kept = f"[^{space}{control}]"
    return f"^[{space}]*{kept}(?:[^{control}]*{kept})?[{space}]*$"


def _ranges(points: list[int]) -> str:
    """Sorted code points as the inside of a character class, runs of three or more as
    ranges (``\\u2000-\\u200a``)."""
    runs: list[list[int]] = []
    for point in points:
        if runs and point == runs[-1][-1] + 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    return "".join(
        f"\\u{run[0]:04x}-\\u{run[-1]:04x}" if len(run) > 2 else "".join(f"\\u{p:04x}" for p in run)
        for run in runs
    )


# the document states the limits the fields enforce, so clients can check before sending:
# text as the pattern above, at most 200 characters untrimmed
TEXT_LIMITS = {"minLength": 1, "maxLength": MAX_DESCRIPTION, "pattern": _description_pattern()}
POSITIVE = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_AMOUNT, "multipleOf": CENT}
SIGNED = {
    "type": "number",
    "minimum": MAX_AMOUNT.copy_negate(),
    "maximum": MAX_AMOUNT,
    "multipleOf": CENT,
}


class TransactionIn(Schema):
    """Body of a create: description and amount, nothing else."""

    description = Description(required=True, metadata=TEXT_LIMITS)
    amount = Money(required=True, metadata={**POSITIVE, "example": 12.5})


class ExpenseIn(TransactionIn):
    """Like an income, but a negative amount is also accepted (stored negative either way)."""

    amount = Money(required=True, allow_negative=True, metadata={**SIGNED, "not": {"const": 0}})


class TransactionPatch(Schema):
    """Body of a change: description and/or amount, at least one."""

    class Meta:
        json_schema_keywords = {"minProperties": 1}  # cashman.openapi.SchemaKeywords

    description = Description(metadata=TEXT_LIMITS)
    amount = Money(metadata=POSITIVE)

    @validates_schema
    def require_a_field(self, data: dict[str, Any], **kwargs: Any) -> None:
        """An empty change is a 422 on ``_schema``."""
        if not data:
            raise ValidationError("Give description and/or amount.")


class ExpensePatch(TransactionPatch):
    """Like an income's change, but a negative amount is also accepted."""

    amount = Money(allow_negative=True, metadata={**SIGNED, "not": {"const": 0}})


class TransactionOut(Schema):
    """A transaction as returned: amounts exact with two decimals, times in UTC.

    Dumps one transaction (create, get, change). For a list it is the documentation
    only, as flask-smorest's ``ErrorSchema`` is for errors: ``cashman.listing`` writes
    each page straight from column tuples, into the bytes this schema's dump gives
    (tests/api/test_listing.py holds the two equal).
    """

    id = fields.Integer(required=True)
    description = fields.String(required=True)
    amount = Money(required=True, metadata={"type": "number", "example": 12.5})
    type = fields.String(
        attribute="kind", required=True, validate=validate.OneOf([k.value for k in Kind])
    )
    created_at = fields.Method(
        "format_created_at",
        required=True,
        metadata={"type": "string", "format": "date-time"},
    )

    def format_created_at(self, obj: Any) -> str:
        """``created_at`` as ISO 8601 UTC with microseconds."""
        return obj.created_at.strftime(CREATED_AT_FORMAT)


def transaction_json(tx: Any) -> str:
    """``tx`` (``id``, ``description``, ``amount``, ``kind``, ``created_at``) as the JSON
    text ``dumps_exact(TransactionOut().dump(tx))`` gives, without marshmallow's walk
    of the fields: the 201 of every create is written here, once (tests/api/test_money.py
    holds the two equal)."""
    return dumps_exact(
        {
            "id": tx.id,
            "description": tx.description,
            "amount": to_cent(tx.amount),
            "type": tx.kind,
            "created_at": tx.created_at.strftime(CREATED_AT_FORMAT),
        }
    )


class BalanceOut(Schema):
    """Sums for the caller: incomes positive, expenses negative, and their sum."""

    incomes = Money(required=True, metadata={"type": "number"})
    expenses = Money(required=True, metadata={"type": "number"})
    balance = Money(required=True, metadata={"type": "number"})


def single_value(values: Any) -> Any:
    """The one value of a query parameter that webargs hands over as a list (``is_multiple``)."""
    if not isinstance(values, list):
        return values
    if len(values) != 1:
        raise ValidationError("Give this parameter once.")
    return values[0]


class PageSize(fields.Integer):
    """``limit``: ASCII digits, no sign or leading zero, 1-500, given once."""

    # every value reaches _deserialize, so a repeated parameter is seen, not silently cut
    is_multiple = True
    default_error_messages = {"page_size": PAGE_SIZE_MESSAGE}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        value = single_value(value)
        if not isinstance(value, str) or not _PAGE_SIZE.match(value):
            raise self.make_error("page_size")
        return int(value)


def _absent() -> None:
    """The value of an optional query or header field that was not sent."""
    return None


class CursorField(fields.String):
    """The opaque ``cursor`` of a ``Link: rel="next"`` URL, given once."""

    is_multiple = True
    default_error_messages = {"cursor": "Not a cursor from this API."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Cursor:
        value = single_value(value)
        try:
            return Cursor.decode(super()._deserialize(value, attr, data, **kwargs))
        except InvalidCursorError:
            raise self.make_error("cursor") from None


class ListArgs(Schema):
    """Query of a list: page size and where to continue."""

    class Meta:
        unknown = "exclude"

    limit = PageSize(
        load_default=50,
        # the same words as PageSize's own refusal: 0 and 501 are the same mistake
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE, error=PAGE_SIZE_MESSAGE),
        metadata={"example": 50},
    )
    # the cursor is opaque, but never empty. None when absent, through a callable: a query
    # or header value cannot be null, and a None default would be documented as one
    cursor = CursorField(load_default=_absent, allow_none=False, metadata={"minLength": 1})


# Idempotency-Key: visible ASCII but the comma, which only a repeated field (two lines
# joined by the server, RFC 9110 §5.3) puts into a value: two keys are never one key.
_IDEMPOTENCY_KEY = r"[\x21-\x2b\x2d-\x7e]{1,255}"


class IdempotencyHeader(Schema):
    """``Idempotency-Key``: 1-255 visible ASCII characters other than the comma."""

    class Meta:
        unknown = "exclude"

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        load_default=_absent,
        allow_none=False,
        validate=validate.Regexp(
            _IDEMPOTENCY_KEY + r"\Z",
            error="1 to 255 visible ASCII characters, no comma, given once.",
        ),
        # the document's pattern is ECMA-262 (JSON Schema), where \Z is no anchor
        metadata={"pattern": f"^{_IDEMPOTENCY_KEY}$"},
    )


class ErrorOut(Schema):
    """Every error: a code and a fixed description; ``errors`` per field on a 422."""

    code = fields.String(required=True)
    description = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class MessageOut(Schema):
    """The answer of ``/ping`` and ``/secured/ping``."""

    message = fields.String(required=True)


class ReadyOut(Schema):
    """The answer of ``/readyz`` when the instance can serve."""

    status = fields.String(required=True, validate=validate.OneOf(["ready"]))
