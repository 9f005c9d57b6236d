"""Marshmallow schemas: the only place request data is validated (SPEC §4).

Decisions where the SPEC is silent: a numeric string (``"12.5"``) is not a
number (422, as for booleans); descriptions are trimmed, then 1-200
characters, and control characters (tabs and newlines included) or lone
surrogates are refused (``cashman.description``); unknown body fields are
refused while unknown query parameters are ignored (so an ``access_token`` parameter is neither used
nor an error). ``limit`` is plain ASCII digits, no sign, no leading zero (a
Unicode digit or ``+5`` is not what a client meant to send), and ``limit`` or
``cursor`` given twice is a 422 rather than a silent pick of one.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from cashman.description import TEXT_LIMITS, Description
from cashman.jsonio import dumps_exact
from cashman.models import Kind
from cashman.money import CENT, MAX_AMOUNT, has_two_places_at_most, is_in_range, to_cent
from cashman.paging import Cursor, InvalidCursorError

# created_at on the wire: ISO 8601 in UTC with microseconds (SPEC §4)
CREATED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
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
