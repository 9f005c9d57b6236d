"""Amounts at the edges of what ``decimal`` can hold are judged by what they mean.

A JSON number may carry an exponent past what the default decimal context allows
(``1E+1000000``), past what a ``Decimal`` can hold at all (``1E+1000000000000000000``),
a zero with a huge exponent, or tens of thousands of digits. None of them may raise a
``decimal`` signal anywhere between the body and the database: each is a 422
``validation_error`` on ``amount`` saying what is wrong with the number it means (too
large, too many places, not positive), or, when it really is a valid amount written
long-hand (``1.000000``), it is accepted. On POST and PATCH of both kinds, with and
without an ``Idempotency-Key``.
"""

from __future__ import annotations

import pytest

RANGE = "Must be greater than 0 and at most 1000000000."
SIGNED_RANGE = "Must be from -1000000000 to 1000000000, and not 0."  # expenses
PLACES = "At most two decimal places."
NEGATIVE = "Must be greater than 0."
MANY = 60_000  # digits: the most that still fit a body under 64 KiB with room to spare

# (amount as written, message for an income, message for an expense)
REFUSED = [
    ("1E+1000000", RANGE, SIGNED_RANGE),
    ("-1E+1000000", NEGATIVE, SIGNED_RANGE),
    ("1E+999999999999999999", RANGE, SIGNED_RANGE),
    ("1E+1000000000000000000", RANGE, SIGNED_RANGE),
    ("-1E+1000000000000000000000", NEGATIVE, SIGNED_RANGE),
    ("9" * 40 + "E+" + "9" * 40, RANGE, SIGNED_RANGE),
    ("1E-1000000", PLACES, PLACES),
    ("1E-1000000000000000000000", PLACES, PLACES),
    ("-1E-1000000000000000000000", NEGATIVE, PLACES),
    ("0E-1000000", RANGE, SIGNED_RANGE),
    ("0E+1000000000000000000000", RANGE, SIGNED_RANGE),
    ("-0E-1000000000000000000000", RANGE, SIGNED_RANGE),
    ("-0", RANGE, SIGNED_RANGE),
    ("-0.0", RANGE, SIGNED_RANGE),
    ("1" + "0" * MANY, RANGE, SIGNED_RANGE),
    ("-1" + "0" * MANY, NEGATIVE, SIGNED_RANGE),
    ("0." + "0" * MANY + "1", PLACES, PLACES),
    ("999999999.99" + "9" * MANY, PLACES, PLACES),
    ("1000000000." + "0" * MANY + "1", RANGE, SIGNED_RANGE),
    ("1" + "0" * MANY + "E-" + str(MANY + 3), PLACES, PLACES),
]
# (amount as written, the amount it means)
ACCEPTED = [
    ("1.000000", "1.00"),
    ("1." + "0" * MANY, "1.00"),
    ("1000000000." + "0" * MANY, "1000000000.00"),
    ("1" + "0" * MANY + "E-" + str(MANY), "1.00"),
    ("0.001E+3", "1.00"),
    ("100E-2", "1.00"),
    ("0.1E+1", "1.00"),
]


def body(amount: str) -> str:
    return f'{{"description": "x", "amount": {amount}}}'


@pytest.fixture
def send(client, auth):
    """``send(method, path, text, key=None)`` -> the response to a JSON body."""

    def request(method, path, text, key=None):
        headers = {**auth, **({"Idempotency-Key": key} if key else {})}
        return client.open(
            path, method=method, data=text, content_type="application/json", headers=headers
        )

    return request


@pytest.fixture
def targets(create):
    """(method, path, kind, Idempotency-Key) of every write that takes an amount."""
    income, expense = create("incomes").json["id"], create("expenses").json["id"]
    return [
        ("POST", "/incomes", "income", None),
        ("POST", "/expenses", "expense", None),
        ("POST", "/incomes", "income", "key-income"),
        ("POST", "/expenses", "expense", "key-expense"),
        ("PATCH", f"/incomes/{income}", "income", None),
        ("PATCH", f"/expenses/{expense}", "expense", None),
    ]


@pytest.mark.parametrize(
    ("amount", "income_message", "expense_message"),
    REFUSED,
    ids=[text if len(text) < 50 else f"{text[:12]}...({len(text)} chars)" for text, *_ in REFUSED],
)
def test_extreme_amount_is_422_naming_amount(
    send, targets, rows, amount, income_message, expense_message
):
    before = [(row.id, row.amount) for row in rows()]
    for method, path, kind, key in targets:
        text = body(amount) if method == "POST" else f'{{"amount": {amount}}}'
        resp = send(method, path, text, key)
        message = income_message if kind == "income" else expense_message
        assert (resp.status_code, resp.json) == (
            422,
            {
                "code": "validation_error",
                "description": "The request is invalid; see errors.",
                "errors": {"amount": [message]},
            },
        ), (method, path, key)
    assert [(row.id, row.amount) for row in rows()] == before


@pytest.mark.parametrize(
    ("amount", "means"),
    ACCEPTED,
    ids=[text if len(text) < 50 else f"{text[:12]}...({len(text)} chars)" for text, _ in ACCEPTED],
)
def test_valid_amount_written_long_hand_is_accepted(send, targets, rows, amount, means):
    for method, path, kind, key in targets:
        text = body(amount) if method == "POST" else f'{{"amount": {amount}}}'
        resp = send(method, path, text, key)
        stored = means if kind == "income" else f"-{means}"
        assert (resp.status_code, str(resp.json["amount"])) == (
            201 if method == "POST" else 200,
            stored,
        ), (method, path, key)
        [row] = [row for row in rows() if row.id == resp.json["id"]]
        assert str(row.amount) == stored


def test_keyed_retry_with_the_amount_written_long_hand_replays(send, rows):
    first = send("POST", "/incomes", body("1"), key="same")
    again = send("POST", "/incomes", body("1." + "0" * MANY), key="same")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_data() == first.get_data()
    assert len(rows()) == 1


def test_keyed_retry_with_an_extreme_amount_is_refused_before_the_key(send, rows):
    first = send("POST", "/incomes", body("1"), key="same")
    again = send("POST", "/incomes", body("1E+1000000000000000000"), key="same")
    assert (first.status_code, again.status_code) == (201, 422)
    assert again.json["errors"] == {"amount": [RANGE]}
    assert len(rows()) == 1


def test_amount_too_long_for_the_body_limit_is_413(send, rows):
    resp = send("POST", "/incomes", body("1" * 100_000))
    assert (resp.status_code, resp.json["code"]) == (413, "payload_too_large")
    assert rows() == []
