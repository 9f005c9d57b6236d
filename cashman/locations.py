"""Where a transaction lives: the ``Location`` of the 201 that creates one (SPEC §4).

One place for it, because two answers carry it: a plain create, and the stored
first response of a create with an ``Idempotency-Key`` (RFC 9110 §10.2.2).
"""

from __future__ import annotations

from typing import Protocol

from flask import url_for

from cashman.models import Kind

# the view that reads one transaction of each kind (cashman.transactions)
ENDPOINTS = {Kind.INCOME: "transactions.get_income", Kind.EXPENSE: "transactions.get_expense"}


class Located(Protocol):
    """Anything naming a stored transaction: a ``Transaction``, a ``storage.Created``."""

    @property
    def id(self) -> int: ...

    @property
    def kind(self) -> str: ...


def location_of(tx: Located) -> str:
    """The root-relative URL of ``tx`` (``/incomes/7``); needs a request context."""
    return url_for(ENDPOINTS[Kind(tx.kind)], tx_id=tx.id)
