"""Exact money (SPEC §4): Decimal amounts with two places, from the request to the database.

One place for the cent, the largest amount and the arithmetic on a client's number.
That number may be anything JSON can write: ``1E+1000000``, sixty thousand digits, a
zero with a huge exponent. The default decimal context rounds to 28 digits and traps
an exponent past 999 999, so ``abs()`` of such a number raises ``Overflow``, and
rounding can make ``1000000000.000...01`` look like ``1000000000``. So nothing here
uses the default context: signs and magnitudes are taken exactly (``copy_abs``,
``copy_negate``), compared exactly, and rounded only in ``MONEY_CONTEXT``, once the
magnitude is known to be in range.
"""

from __future__ import annotations

from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000")
# Fixed here, not taken from the thread's default context (which any code may change).
# 28 digits hold every amount (12: 1000000000.00) and any total the database returns;
# the traps make a misuse loud rather than a silent NaN.
MONEY_CONTEXT = Context(
    prec=28,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)


def is_in_range(amount: Decimal) -> bool:
    """Whether ``0 < |amount| <= MAX_AMOUNT``, decided exactly (``amount`` finite)."""
    return 0 < amount.copy_abs() <= MAX_AMOUNT


def to_cent(amount: Decimal) -> Decimal:
    """``amount`` rounded to the cent (ties to even).

    ``amount`` must be finite with at most 26 integer digits: check a client's number
    with :func:`is_in_range` first (a huge one would need more digits than the context).
    """
    return amount.quantize(CENT, context=MONEY_CONTEXT)


def has_two_places_at_most(amount: Decimal) -> bool:
    """Whether ``amount`` (finite, in range) is a whole number of cents."""
    return to_cent(amount) == amount


def signed(amount: Decimal, negative: bool) -> Decimal:
    """``|amount|``, negated when ``negative``: exact, whatever the context."""
    magnitude = amount.copy_abs()
    return magnitude.copy_negate() if negative else magnitude


def to_cents(amount: Decimal) -> int:
    """A whole number of cents as an integer (``-12.50`` -> ``-1250``); exact."""
    return int(to_cent(amount).scaleb(2, context=MONEY_CONTEXT))


def from_cents(cents: int) -> Decimal:
    """Integer cents as the amount with two places (``-1250`` -> ``-12.50``); exact."""
    return Decimal(f"{cents}E-2")
