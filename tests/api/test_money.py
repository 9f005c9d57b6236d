"""Exact money: no binary floating point from the request to the database and back."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from cashman.jsonio import dumps_exact
from cashman.schemas import TransactionOut


def test_tenth_plus_fifth_is_exactly_thirty_cents(client, auth, create):
    create("incomes", "a", 0.1)
    create("incomes", "b", 0.2)
    text = client.get("/balance", headers=auth).get_data(as_text=True)
    assert '"incomes":0.30' in text
    assert "0.30000000000000004" not in text


@pytest.mark.parametrize(
    ("sent", "returned"),
    [
        ("0.1", "0.10"),
        ("0.01", "0.01"),
        ("12.5", "12.50"),
        ("7", "7.00"),
        ("1e2", "100.00"),
        ("1.50E1", "15.00"),
        ("999999999.99", "999999999.99"),
        ("1000000000", "1000000000.00"),
        ("1000000000.00", "1000000000.00"),
    ],
)
def test_amount_is_a_json_number_with_two_decimals(client, auth, rows, sent, returned):
    body = f'{{"description": "x", "amount": {sent}}}'
    resp = client.post("/incomes", data=body, content_type="application/json", headers=auth)
    assert resp.status_code == 201
    assert f'"amount":{returned},' in resp.get_data(as_text=True)
    [row] = rows()
    assert row.amount == Decimal(returned)
    listed = client.get("/incomes", headers=auth).get_data(as_text=True)
    assert f'"amount":{returned},' in listed


def test_many_cents_sum_exactly(client, auth, create):
    for _ in range(30):
        create("incomes", "c", 0.01)
    for _ in range(10):
        create("expenses", "d", 0.03)
    text = client.get("/balance", headers=auth).get_data(as_text=True).strip()
    assert text == '{"incomes":0.30,"expenses":-0.30,"balance":0.00}'


def test_largest_amounts_sum_beyond_a_single_amount(client, auth, create):
    for _ in range(3):
        create("incomes", "big", 1_000_000_000)
    create("expenses", "small", 0.01)
    text = client.get("/balance", headers=auth).get_data(as_text=True).strip()
    assert text == '{"incomes":3000000000.00,"expenses":-0.01,"balance":2999999999.99}'


def test_empty_balance_is_zero_with_two_decimals(client, auth):
    text = client.get("/balance", headers=auth).get_data(as_text=True).strip()
    assert text == '{"incomes":0.00,"expenses":0.00,"balance":0.00}'


@pytest.mark.parametrize(
    ("path", "description", "amount"),
    [
        ("/incomes", "lunch", "0.01"),
        ("/incomes", 'a "quoted" \\ café ☕ 𝄞', "1000000000"),
        ("/expenses", "rent", "-12.5"),
        ("/expenses", "x" * 200, "999999999.99"),
    ],
)
def test_created_body_is_the_schema_dump_of_the_stored_row(
    client, auth, rows, path, description, amount
):
    # the 201 is written without the schema: it must be what the schema makes of the row
    body = f'{{"description": {json.dumps(description)}, "amount": {amount}}}'
    resp = client.post(path, data=body, content_type="application/json", headers=auth)
    [stored] = rows()
    assert resp.status_code == 201
    assert resp.get_data(as_text=True) == dumps_exact(TransactionOut().dump(stored)) + "\n"
