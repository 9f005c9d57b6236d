"""Where a transaction lives, and the URLs the API hands out in headers (SPEC §4).

``Location`` (the 201 of a create, also the stored first response of a create with an
``Idempotency-Key``, RFC 9110 §10.2.2) and ``Link`` (the next page, RFC 8288) name
URLs a client follows. Behind a proxy that strips a path prefix the application sees
``/incomes`` where the client called ``https://api.example.com/api/incomes``, so with
``API_BASE_URL`` set these references are absolute URLs under it (the same URL a DPoP
proof's ``htu`` is compared with, SPEC §3a); without it they stay root-relative.
"""

from __future__ import annotations

from typing import Protocol

from flask import url_for

from auth.decorators import current_auth
from auth.htu import request_htu
from cashman.models import Kind

# the view that reads one transaction of each kind (cashman.transactions)
ENDPOINTS = {Kind.INCOME: "transactions.get_income", Kind.EXPENSE: "transactions.get_expense"}


def public_url(path: str) -> str:
    """The URL a client uses for the root-relative ``path`` (``/incomes?limit=1``).

    ``API_BASE_URL`` + ``path`` when it is set (``https://api.example.com/api/incomes``),
    else ``path`` unchanged. Needs an application context with ``Auth`` registered.
    """
    base = current_auth().settings.dpop.api_base_url
    # the join a DPoP proof's htu is compared with, so a followed Link's proof matches
    return path if base is None else request_htu(base, path)


class Located(Protocol):
    """Anything naming a stored transaction: a ``Transaction``, a ``storage.Created``."""

    @property
    def id(self) -> int: ...

    @property
    def kind(self) -> str: ...


def location_of(tx: Located) -> str:
    """The URL of ``tx``: ``/incomes/7``, absolute under ``API_BASE_URL`` when it is set;
    needs a request context."""
    return public_url(url_for(ENDPOINTS[Kind(tx.kind)], tx_id=tx.id))
