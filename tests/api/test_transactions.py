"""Create, read, change, delete and list incomes and expenses; ownership; scopes."""

from __future__ import annotations

from decimal import Decimal

import pytest

READ = "read:transactions"
WRITE = "write:transactions"


@pytest.mark.parametrize(
    ("kind", "amount", "stored", "type_"),
    [
        ("incomes", 12.5, "12.50", "INCOME"),
        ("expenses", 20, "-20.00", "EXPENSE"),
        ("expenses", -20, "-20.00", "EXPENSE"),
    ],
)
def test_create_returns_201_body_and_location(client, auth, rows, kind, amount, stored, type_):
    resp = client.post(f"/{kind}", json={"description": " lunch ", "amount": amount}, headers=auth)
    assert resp.status_code == 201
    body = resp.json
    assert set(body) == {"id", "description", "amount", "type", "created_at"}
    assert (body["description"], str(body["amount"]), body["type"]) == ("lunch", stored, type_)
    assert f'"amount":{stored}' in resp.get_data(as_text=True)
    assert resp.headers["Location"] == f"/{kind}/{body['id']}"
    assert body["created_at"].endswith("Z")
    [row] = rows()
    assert (row.id, row.amount, row.kind) == (body["id"], Decimal(stored), type_)
    assert row.owner.endswith("user-1")


def test_create_stores_the_token_owner(client, bearer, rows):
    client.post("/incomes", json={"description": "a", "amount": 1}, headers=bearer(sub="alice"))
    [row] = rows()
    assert row.owner.endswith("alice")


def test_location_reads_the_created_transaction(client, auth, create):
    created = create("expenses", "rent", 700)
    resp = client.get(created.headers["Location"], headers=auth)
    assert (resp.status_code, resp.json) == (200, created.json)


def test_list_is_newest_first_json_array(client, auth, create):
    ids = [create("incomes", f"i{n}", n + 1).json["id"] for n in range(3)]
    create("expenses", "e", 5)
    resp = client.get("/incomes", headers=auth)
    assert resp.status_code == 200
    assert [item["id"] for item in resp.json] == ids[::-1]
    assert "Link" not in resp.headers


def test_transactions_lists_both_kinds(client, auth, create):
    income = create("incomes", "salary", 100).json
    expense = create("expenses", "food", 30).json
    resp = client.get("/transactions", headers=auth)
    assert resp.json == [expense, income]


@pytest.mark.parametrize(
    ("kind", "patch", "description", "amount"),
    [
        ("incomes", {"description": " new "}, "new", "10.00"),
        ("incomes", {"amount": 99.99}, "old", "99.99"),
        ("expenses", {"amount": 20}, "old", "-20.00"),
        ("expenses", {"amount": -21, "description": "both"}, "both", "-21.00"),
    ],
)
def test_patch_changes_fields(client, auth, create, rows, kind, patch, description, amount):
    created = create(kind, "old", 10).json
    resp = client.patch(f"/{kind}/{created['id']}", json=patch, headers=auth)
    assert resp.status_code == 200
    assert (resp.json["description"], str(resp.json["amount"])) == (description, amount)
    assert resp.json["created_at"] == created["created_at"]
    [row] = rows()
    assert (row.description, row.amount) == (description, Decimal(amount))


def test_delete_answers_204_then_404(client, auth, create, rows):
    created = create("expenses", "x", 1).json
    resp = client.delete(f"/expenses/{created['id']}", headers=auth)
    assert (resp.status_code, resp.data) == (204, b"")
    assert rows() == []
    again = client.delete(f"/expenses/{created['id']}", headers=auth)
    assert (again.status_code, again.json["code"]) == (404, "not_found")


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_other_users_transaction_is_404(client, bearer, create, rows, method):
    created = create("incomes", "mine", 10, headers=bearer(sub="alice")).json
    resp = getattr(client, method)(
        f"/incomes/{created['id']}", json={"amount": 1}, headers=bearer(sub="mallory")
    )
    assert (resp.status_code, resp.json["code"]) == (404, "not_found")
    assert "mine" not in resp.get_data(as_text=True)
    [row] = rows()
    assert (row.description, row.amount) == ("mine", Decimal("10.00"))


def test_lists_and_balance_are_per_user(client, bearer, create):
    create("incomes", "alice pay", 100, headers=bearer(sub="alice"))
    create("expenses", "bob rent", 50, headers=bearer(sub="bob"))
    assert client.get("/transactions", headers=bearer(sub="bob")).json[0]["description"] == (
        "bob rent"
    )
    assert len(client.get("/transactions", headers=bearer(sub="bob")).json) == 1
    balance = client.get("/balance", headers=bearer(sub="bob")).json
    assert balance == {"incomes": 0, "expenses": -50, "balance": -50}


@pytest.mark.parametrize(("kind", "other"), [("incomes", "expenses"), ("expenses", "incomes")])
def test_id_of_the_other_kind_is_404(client, auth, create, kind, other):
    created = create(kind, "x", 1).json
    assert client.get(f"/{other}/{created['id']}", headers=auth).status_code == 404


@pytest.mark.parametrize("path", ["/incomes/0", "/incomes/99999999999999999999", "/incomes/abc"])
def test_unknown_or_out_of_range_id_is_404(client, auth, path):
    resp = client.get(path, headers=auth)
    assert (resp.status_code, resp.json["code"]) == (404, "not_found")


def test_balance_sums_incomes_and_negative_expenses(client, auth, create):
    create("incomes", "pay", 1000)
    create("incomes", "gift", 0.5)
    create("expenses", "rent", 700.25)
    resp = client.get("/balance", headers=auth)
    assert resp.status_code == 200
    assert resp.get_data(as_text=True).strip() == (
        '{"incomes":1000.50,"expenses":-700.25,"balance":300.25}'
    )


@pytest.mark.parametrize(
    ("method", "path", "scopes", "status"),
    [
        ("get", "/incomes", [WRITE], 403),
        ("get", "/expenses", [WRITE], 403),
        ("get", "/transactions", [], 403),
        ("get", "/balance", [WRITE], 403),
        ("get", "/incomes/1", [WRITE], 403),
        ("post", "/incomes", [READ], 403),
        ("post", "/expenses", [READ], 403),
        ("patch", "/incomes/1", [READ], 403),
        ("delete", "/expenses/1", [READ], 403),
        ("get", "/balance", [READ], 200),
        ("get", "/incomes", [READ], 200),
    ],
)
def test_scopes_per_endpoint(client, bearer, method, path, scopes, status):
    resp = getattr(client, method)(
        path, json={"description": "x", "amount": 1}, headers=bearer(scopes)
    )
    assert resp.status_code == status
    if status == 403:
        assert resp.json["code"] == "insufficient_scope"


def test_permissions_claim_grants_scope(client, token):
    tok = token(scopes=(), permissions=[READ, WRITE])
    resp = client.post(
        "/incomes",
        json={"description": "x", "amount": 1},
        headers={"Authorization": f"Bearer {tok}"},
    )
    assert resp.status_code == 201


@pytest.mark.parametrize(
    ("headers_of", "body", "content_type", "status"),
    [
        (None, b"not json", "text/plain", 401),
        (None, b"x" * 70_000, "application/json", 401),
        ((READ,), b"not json", "text/plain", 403),
        ((READ,), b'{"amount": "bad"}', "application/json", 403),
        ((READ,), b"x" * 70_000, "application/json", 403),
    ],
)
def test_auth_is_checked_before_the_body(client, bearer, headers_of, body, content_type, status):
    headers = {} if headers_of is None else bearer(headers_of)
    resp = client.post("/incomes", data=body, content_type=content_type, headers=headers)
    assert resp.status_code == status


ODD_IDS = [
    "0",
    "-1",
    "-0",
    "01",
    "00000000000000000001",
    "9223372036854775808",
    "99999999999999999999999",
    "9" * 400,
]


@pytest.mark.parametrize("kind", ["incomes", "expenses"])
@pytest.mark.parametrize("tx_id", ODD_IDS)
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_id_that_names_no_row_is_404_for_every_method(client, auth, create, kind, tx_id, method):
    create(kind)  # id 1 exists: "01" and "-0" must not reach it
    body = {"json": {"description": "x"}} if method == "patch" else {}
    resp = getattr(client, method)(f"/{kind}/{tx_id}", headers=auth, **body)
    assert resp.status_code == 404, resp.json
    assert resp.json["code"] == "not_found"


@pytest.mark.parametrize("tx_id", ["1", "0", "01", "-1", "99999999999999999999999"])
@pytest.mark.parametrize("method", ["post", "put"])
def test_method_the_id_route_lacks_is_405(client, auth, create, tx_id, method):
    create()
    resp = getattr(client, method)(f"/incomes/{tx_id}", headers=auth, json={"amount": 1})
    assert resp.status_code == 405
    assert resp.json["code"] == "method_not_allowed"
    assert set(resp.headers["Allow"].split(", ")) >= {"GET", "PATCH", "DELETE"}


def test_id_parameter_is_documented_as_an_integer(client):
    spec = client.get("/openapi.json").json
    for path in ("/incomes/{tx_id}", "/expenses/{tx_id}"):
        (parameter,) = spec["paths"][path]["parameters"]
        assert parameter["schema"]["type"] == "integer"


@pytest.mark.parametrize("kind", ["incomes", "expenses"])
def test_delete_204_has_no_body_headers(client, auth, create, kind):
    created = create(kind).json
    resp = client.delete(f"/{kind}/{created['id']}", headers=auth)
    assert (resp.status_code, resp.data) == (204, b"")
    assert "Content-Type" not in resp.headers
    assert resp.headers.get("Content-Length", "0") == "0"
    assert resp.headers["Cache-Control"] == "no-store"
