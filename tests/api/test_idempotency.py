"""Idempotency-Key on POST: replay the first response, refuse a different body."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from cashman import idempotency
from cashman.models import IdempotencyRecord

BODY = {"description": "rent", "amount": 700}


def post(client, headers, key, body=BODY, kind="expenses"):
    return client.post(f"/{kind}", json=body, headers={**headers, "Idempotency-Key": key})


def test_retry_returns_the_first_response_and_creates_nothing(client, auth, rows):
    first = post(client, auth, "key-1")
    again = post(client, auth, "key-1")
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"] == f"/expenses/{first.json['id']}"
    assert len(rows()) == 1


def test_retry_after_a_change_still_replays_the_first_response(client, auth, rows):
    first = post(client, auth, "key-1")
    client.patch(first.headers["Location"], json={"amount": 1}, headers=auth)
    again = post(client, auth, "key-1")
    assert again.json == first.json
    assert len(rows()) == 1


def test_retry_after_a_delete_replays_the_201_whose_location_is_gone(client, auth, rows):
    first = post(client, auth, "key-1")
    assert client.delete(first.headers["Location"], headers=auth).status_code == 204
    again = post(client, auth, "key-1")
    assert (again.status_code, again.json) == (201, first.json)
    assert client.get(again.headers["Location"], headers=auth).status_code == 404
    assert rows() == []


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"description": "rent", "amount": 701}, "expenses"),
        ({"description": "other", "amount": 700}, "expenses"),
        (BODY, "incomes"),
    ],
)
def test_same_key_different_request_is_422(client, auth, rows, body, kind):
    post(client, auth, "key-1")
    resp = post(client, auth, "key-1", body=body, kind=kind)
    assert (resp.status_code, resp.json["code"]) == (422, "idempotency_key_reused")
    assert len(rows()) == 1


def test_same_number_written_differently_is_the_same_body(client, auth, rows):
    first = post(client, auth, "k", body={"description": "x", "amount": 7})
    again = client.post(
        "/expenses",
        data='{"amount": 7.00, "description": "x"}',
        content_type="application/json",
        headers={**auth, "Idempotency-Key": "k"},
    )
    assert again.json == first.json
    assert len(rows()) == 1


@pytest.mark.parametrize(("first", "again"), [("700", "-700"), ("-700", "700"), ("700", "-7E2")])
def test_an_expense_retried_with_the_other_sign_is_the_same_request(
    client, auth, rows, first, again
):
    # stored negative whichever sign was sent (SPEC §4): both ask for one expense
    made, retried = (
        client.post(
            "/expenses",
            data=f'{{"description": "rent", "amount": {amount}}}',
            content_type="application/json",
            headers={**auth, "Idempotency-Key": "k"},
        )
        for amount in (first, again)
    )
    assert (made.status_code, made.json["amount"]) == (201, -700)
    assert (retried.status_code, retried.json) == (201, made.json)
    assert len(rows()) == 1


# what every release stores for POST /expenses {"description": "rent", "amount": -700}
STORED_FOR_MINUS_700 = "f73e6d526224335d5f7b7dbeb3dfa7a75f4b6981ad8c20f57b5abfb8a1a7af0d"


def test_the_stored_fingerprint_is_the_one_every_release_stores():
    # releases before and after read each other's keys during a rolling upgrade: the
    # stored form (the amount with the sign it was sent with) must never change
    data = {"description": "rent", "amount": Decimal("-700.00")}
    assert idempotency.fingerprint("/expenses", data) == STORED_FOR_MINUS_700


@pytest.mark.parametrize("amount", [-700, 700])
def test_a_key_stored_by_the_release_before_replays_either_sign(app, client, auth, rows, amount):
    first = post(client, auth, "k", body={"description": "rent", "amount": -700})
    with app.extensions["cashman.db"].writing() as session:  # as that release left it
        session.execute(update(IdempotencyRecord).values(fingerprint=STORED_FOR_MINUS_700))
    again = post(client, auth, "k", body={"description": "rent", "amount": amount})
    assert (again.status_code, again.json) == (201, first.json)
    assert len(rows()) == 1


def test_keys_are_per_user(client, bearer, rows):
    a = post(client, bearer(sub="alice"), "shared")
    b = post(client, bearer(sub="bob"), "shared")
    assert a.json["id"] != b.json["id"]
    assert len(rows()) == 2


def test_without_a_key_each_post_creates(client, auth, rows):
    client.post("/expenses", json=BODY, headers=auth)
    client.post("/expenses", json=BODY, headers=auth)
    assert len(rows()) == 2


def test_expired_key_creates_again(app, client, auth, rows, idempotency_rows):
    first = post(client, auth, "old")
    with app.extensions["cashman.db"].writing() as session:
        [record] = session.query(IdempotencyRecord).all()
        session.execute(
            update(IdempotencyRecord).values(created_at=record.created_at - timedelta(hours=25))
        )
    again = post(client, auth, "old", body={"description": "new", "amount": 1})
    assert again.status_code == 201
    assert again.json["id"] != first.json["id"]
    assert len(rows()) == 2
    assert len(idempotency_rows()) == 1


def test_rejected_requests_are_not_remembered(client, auth, rows):
    bad = post(client, auth, "k", body={"description": "x", "amount": "1"})
    assert bad.status_code == 422
    good = post(client, auth, "k")
    assert good.status_code == 201
    assert len(rows()) == 1


def test_concurrent_retries_leave_one_row(app, auth, rows):
    barrier = threading.Barrier(20, timeout=30)
    responses = []

    def send():
        client = app.test_client()
        barrier.wait()
        responses.append(post(client, auth, "race"))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.json["id"] for r in responses}) == 1
    assert len(rows()) == 1
