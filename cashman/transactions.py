"""The transactions blueprint (SPEC §4): incomes, expenses, all transactions, the balance.

Views parse (schemas), act (storage, scoped by the caller's owner) and
respond. The scope check is the outermost decorator of every view, so an
unauthenticated or under-scoped request is refused before its body is read.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for

from auth import current_owner
from cashman import idempotency, listing, storage
from cashman.blueprint import Blueprint
from cashman.errors import TransactionNotFoundError
from cashman.locations import location_of
from cashman.models import Kind
from cashman.paging import Cursor, next_link
from cashman.schemas import (
    BalanceOut,
    ExpenseIn,
    ExpensePatch,
    IdempotencyHeader,
    ListArgs,
    TransactionIn,
    TransactionOut,
    TransactionPatch,
    transaction_json,
)
from cashman.scopes import READ, WRITE

ID = "<txid:tx_id>"

LINK = {"Link": {"description": 'Next page: `<URL>; rel="next"`', "schema": {"type": "string"}}}
LOCATION = {"Location": {"description": "URL of the new transaction", "schema": {"type": "string"}}}

# one instance for every list request: given the class, webargs builds (and deep-copies
# the fields of) a new schema per request, ~35 us of a ~500 us GET /incomes
LIST_ARGS = ListArgs()
# the same for the bodies and the header of a create (two schemas built per POST before)
IDEMPOTENCY_HEADER = IdempotencyHeader()
INCOME_IN = TransactionIn()
EXPENSE_IN = ExpenseIn()

bp = Blueprint("transactions", __name__, description="The caller's incomes and expenses.")


@bp.get("/incomes")
@bp.guarded(READ, 422)
@bp.arguments(LIST_ARGS, location="query", as_kwargs=True)
@bp.alt_response(200, schema=TransactionOut(many=True), headers=LINK, success=True)
def list_incomes(limit: int, cursor: Cursor | None):
    """List the caller's incomes, newest first."""
    return _page(Kind.INCOME, limit, cursor)


@bp.get("/expenses")
@bp.guarded(READ, 422)
@bp.arguments(LIST_ARGS, location="query", as_kwargs=True)
@bp.alt_response(200, schema=TransactionOut(many=True), headers=LINK, success=True)
def list_expenses(limit: int, cursor: Cursor | None):
    """List the caller's expenses, newest first."""
    return _page(Kind.EXPENSE, limit, cursor)


@bp.get("/transactions")
@bp.guarded(READ, 422)
@bp.arguments(LIST_ARGS, location="query", as_kwargs=True)
@bp.alt_response(200, schema=TransactionOut(many=True), headers=LINK, success=True)
def list_transactions(limit: int, cursor: Cursor | None):
    """List all the caller's transactions, newest first."""
    return _page(None, limit, cursor)


@bp.post("/incomes")
@bp.guarded(WRITE, 411, 413, 415, 422)
@bp.arguments(IDEMPOTENCY_HEADER, location="headers", as_kwargs=True)
@bp.arguments(INCOME_IN)
@bp.response(201, TransactionOut, headers=LOCATION)
def create_income(data: dict[str, Any], idempotency_key: str | None):
    """Record an income for the caller (honours Idempotency-Key)."""
    return _create(Kind.INCOME, data, idempotency_key)


@bp.post("/expenses")
@bp.guarded(WRITE, 411, 413, 415, 422)
@bp.arguments(IDEMPOTENCY_HEADER, location="headers", as_kwargs=True)
@bp.arguments(EXPENSE_IN)
@bp.response(201, TransactionOut, headers=LOCATION)
def create_expense(data: dict[str, Any], idempotency_key: str | None):
    """Record an expense for the caller, stored negative (honours Idempotency-Key)."""
    return _create(Kind.EXPENSE, data, idempotency_key)


@bp.get(f"/incomes/{ID}")
@bp.guarded(READ, 404)
@bp.response(200, TransactionOut)
def get_income(tx_id: int):
    """Read one of the caller's incomes."""
    return storage.get(current_owner(), Kind.INCOME, tx_id) or _not_found()


@bp.get(f"/expenses/{ID}")
@bp.guarded(READ, 404)
@bp.response(200, TransactionOut)
def get_expense(tx_id: int):
    """Read one of the caller's expenses."""
    return storage.get(current_owner(), Kind.EXPENSE, tx_id) or _not_found()


@bp.patch(f"/incomes/{ID}")
@bp.guarded(WRITE, 404, 411, 413, 415, 422)
@bp.arguments(TransactionPatch)
@bp.response(200, TransactionOut)
def update_income(data: dict[str, Any], tx_id: int):
    """Change the description and/or amount of one of the caller's incomes."""
    return storage.update(current_owner(), Kind.INCOME, tx_id, **data) or _not_found()


@bp.patch(f"/expenses/{ID}")
@bp.guarded(WRITE, 404, 411, 413, 415, 422)
@bp.arguments(ExpensePatch)
@bp.response(200, TransactionOut)
def update_expense(data: dict[str, Any], tx_id: int):
    """Change the description and/or amount of one of the caller's expenses."""
    return storage.update(current_owner(), Kind.EXPENSE, tx_id, **data) or _not_found()


@bp.delete(f"/incomes/{ID}")
@bp.guarded(WRITE, 404)
@bp.response(204)
def delete_income(tx_id: int):
    """Delete one of the caller's incomes."""
    return "" if storage.delete(current_owner(), Kind.INCOME, tx_id) else _not_found()


@bp.delete(f"/expenses/{ID}")
@bp.guarded(WRITE, 404)
@bp.response(204)
def delete_expense(tx_id: int):
    """Delete one of the caller's expenses."""
    return "" if storage.delete(current_owner(), Kind.EXPENSE, tx_id) else _not_found()


@bp.get("/balance")
@bp.guarded(READ)
@bp.response(200, BalanceOut)
def get_balance():
    """Sum of the caller's incomes and expenses, and the balance."""
    return storage.totals(current_owner())


def _page(kind: Kind | None, limit: int, cursor: Cursor | None) -> Any:
    rows, next_cursor = listing.page(current_owner(), kind, limit, cursor)
    headers = {}
    if next_cursor is not None:
        headers["Link"] = next_link(url_for(request.endpoint or ""), limit, next_cursor)
    # TransactionOut(many=True) only documents this answer (alt_response): listing writes it
    return listing.page_response(rows), 200, headers


def _create(kind: Kind, data: dict[str, Any], key: str | None) -> Any:
    owner = current_owner()
    if key is None:
        tx = storage.create(owner, kind, **data)
        # TransactionOut (the @bp.response above) documents this body; written directly
        body = f"{transaction_json(tx)}\n"
        return Response(body, 201, {"Location": location_of(tx)}, mimetype="application/json")
    fingerprint = idempotency.fingerprint(request.path, data)
    first = idempotency.create_once(owner, key, fingerprint, kind, **data)
    return idempotency.replay(first, fingerprint, request.path, data)


def _not_found() -> Any:
    raise TransactionNotFoundError()
