"""Property: no JSON body, however hostile, gets a 500 from POST or PATCH; errors have one shape.

Bodies are random JSON (hypothesis ``recursive``) and targeted near-misses of
a valid body: amounts at and past every limit (places, sign, range, huge
exponents, NaN/Infinity text, booleans, strings), descriptions with control
characters, lone surrogates, only spaces, or over 200 characters. Amounts also
reach the edges of ``decimal`` itself: exponents up to 10**22 either way (a
``Decimal`` holds about 10**18), tens of thousands of digits before or after the
point, signed zeros. The oracle for a create: 201 exactly when the SPEC's rules
say the body is valid, judged exactly on the number the text means.
"""

from __future__ import annotations

import json
import unicodedata
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import pytest
import responses
from hypothesis import event, given, settings
from hypothesis import strategies as st

from auth.testing import AuthKit
from cashman import create_app
from cashman.config import Settings
from tests.fuzz.strategies import COLLECTED_TOKEN_LIFETIME_S, json_values

KIT = AuthKit()
TOKEN = KIT.mint(
    scopes=["read:transactions", "write:transactions"], expires_in=COLLECTED_TOKEN_LIFETIME_S
)
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
ERROR_KEYS = {"code", "description"}

# digits a number may spend in a body that stays under the 64 KiB limit
MAX_DIGITS = 60_000
digit_counts = st.sampled_from(
    [0, 1, 2, 3, 27, 28, 29, 4299, 4300, 4301, MAX_DIGITS]
) | st.integers(0, MAX_DIGITS)
exponents = st.sampled_from(
    [0, 2, 3, 9, 10, 999_999, 1_000_000, 10**18 - 1, 10**18, 2 * 10**18, 10**21]
) | st.integers(-(10**22), 10**22)


@st.composite
def extreme_number_texts(draw) -> str:
    """A JSON number literal at the edges of ``decimal``: long runs of digits around a
    leading and a trailing digit, an optional point, an exponent up to 10**22 either way."""
    total = draw(digit_counts)
    before = draw(st.integers(0, total))
    lead = draw(st.sampled_from(["0", "1", "9", "999999999", "1000000000"]))
    filler = draw(st.sampled_from(["0", "9"]))
    tail = draw(st.sampled_from(["", "1", "5", "01"]))
    text = lead + filler * before if lead != "0" or not before else lead
    if total > before or tail:
        text += "." + filler * (total - before) + (tail or "0")
    if draw(st.booleans()):
        exponent = draw(exponents) * draw(st.sampled_from([1, -1]))
        text += draw(st.sampled_from(["e", "E"])) + f"{exponent:+d}"
    return draw(st.sampled_from(["", "-"])) + text


amounts = st.one_of(
    extreme_number_texts().map(lambda text: ("raw", text)),
    st.decimals(min_value=-2 * 10**9, max_value=2 * 10**9, places=2, allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "0",
            "0.00",
            "-0",
            "0.001",
            "1e9",
            "1000000000",
            "1000000000.01",
            "1e-2",
            "1E2",
            "1e400",
            "-1e400",
            "1e-400",
            "NaN",
            "Infinity",
            "-Infinity",
            "true",
            "null",
            '"12.50"',
            "[]",
            "{}",
            "0.1",
            "0.30",
            "12.345",
            "99999999999999999999999999999",
            "-999.99",
            "1.0e+2",
            "1E+1000000",
            "-1E+1000000",
            "1E+999999999999999999",
            "1E+1000000000000000000",
            "-1E-1000000000000000000000",
            "0E+1000000000000000000000",
            "-0E-1000000",
            "-0.0",
            "1.000000",
        ]
    ).map(lambda text: ("raw", text)),
    st.booleans(),
    st.text(max_size=12),
)
descriptions = st.one_of(
    st.text(max_size=220),
    st.sampled_from(
        [
            "",
            " ",
            "   x   ",
            "a" * 200,
            "a" * 201,
            " " + "a" * 200 + " ",
            "tab\tin",
            "nl\n",
            "\x00",
            "\ud800",
            "é" * 200,
            "\u202e",
            "<script>",
            "'; DROP TABLE transactions; --",
        ]
    ),
    json_values,
)


def _body(description, amount, extra) -> str:
    """Serialize by hand, so raw number texts (``1e400``, ``NaN``) reach the server as sent."""
    parts = []
    if description is not _MISSING:
        parts.append(f'"description": {json.dumps(description)}')
    if amount is not _MISSING:
        if isinstance(amount, tuple):
            text = amount[1]
        elif isinstance(amount, Decimal):
            text = str(amount)  # a JSON number, exactly as written
        else:
            text = json.dumps(amount)
        parts.append(f'"amount": {text}')
    parts.extend(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in extra.items())
    return "{" + ", ".join(parts) + "}"


_MISSING = object()
# ECMA-262 WhiteSpace and LineTerminator, from their definition (§12.2, §12.3): the
# space separators (Zs, all in the BMP) and seven others
_TRIMMED = (
    "".join(chr(c) for c in range(0x10000) if unicodedata.category(chr(c)) == "Zs")
    + "\t\n\v\f\r\u2028\u2029\ufeff"
)


def _is_valid_create(description, amount, extra, *, expense: bool) -> bool:
    if extra or description is _MISSING or amount is _MISSING:
        return False
    if not isinstance(description, str):
        return False
    text = description.strip(_TRIMMED)
    if not 1 <= len(text) <= 200:
        return False
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        return False
    if isinstance(amount, bool) or not isinstance(amount, Decimal | tuple):
        return False
    try:
        value = Decimal(amount[1]) if isinstance(amount, tuple) else amount
    except InvalidOperation:
        # past what a Decimal holds (exponent beyond about 10**18): zero, or far out of
        # range one way or the other; never a valid amount
        return False
    if isinstance(amount, tuple) and not _is_json_number(amount[1]):
        return False
    return _is_valid_amount(value, expense=expense)


def _is_valid_amount(value: Decimal, *, expense: bool) -> bool:
    """The SPEC's amount rule, exact: ``adjusted()`` rules out the huge and the tiny
    first, so the ``Fraction`` of what is left is small enough to build."""
    if not value.is_finite() or value.is_zero():
        return False
    if not -2 <= value.adjusted() <= 9:  # |value| < 0.01 or >= 10**10
        return False
    exact = Fraction(value)
    if exact < 0 and not expense:
        return False
    return abs(exact) <= 10**9 and (exact * 100).denominator == 1


def _is_json_number(text: str) -> bool:
    try:
        value = json.loads(text, parse_float=Decimal, parse_constant=lambda c: None)
    except ValueError:
        return False
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz-body") / "cashman.db"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        KIT.publish(rsps)
        app = create_app(Settings.from_env({**KIT.env(), "DATABASE_URL": f"sqlite:///{db}"}))
        yield app.test_client()


@pytest.fixture(scope="module")
def existing(client):
    ids = {}
    for kind, amount in (("incomes", 5), ("expenses", -5)):
        resp = client.post(
            f"/{kind}", data=json.dumps({"description": "seed", "amount": amount}), headers=HEADERS
        )
        assert resp.status_code == 201, resp.get_data(as_text=True)
        ids[kind] = resp.json["id"]
    return ids


def _assert_error_shape(resp):
    assert resp.status_code < 500, resp.get_data(as_text=True)
    assert resp.is_json, resp.get_data(as_text=True)
    assert set(resp.json) >= ERROR_KEYS and set(resp.json) <= ERROR_KEYS | {"errors"}
    assert isinstance(resp.json["code"], str) and isinstance(resp.json["description"], str)
    if resp.status_code == 422 and "errors" in resp.json:
        assert all(isinstance(v, list | dict) for v in resp.json["errors"].values())


extras = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k not in ("description", "amount")),
    json_values,
    max_size=2,
)


# near-valid values, so that the "valid" side of the oracle is exercised too
plain_descriptions = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=201)
plain_amounts = st.decimals(min_value=-(10**9) - 1, max_value=10**9 + 1, places=2)


@settings(max_examples=400)
@given(
    kind=st.sampled_from(["incomes", "expenses"]),
    description=plain_descriptions | descriptions | st.just(_MISSING),
    amount=plain_amounts | amounts | st.just(_MISSING),
    extra=st.just({}) | extras,
)
def test_create_body_never_500_and_valid_iff_spec_says(client, kind, description, amount, extra):
    body = _body(description, amount, extra)
    resp = client.post(f"/{kind}", data=body, headers=HEADERS)
    expected = _is_valid_create(description, amount, extra, expense=kind == "expenses")
    event(f"status {resp.status_code}")
    if resp.status_code == 201:
        assert expected, f"accepted an invalid body: {body}"
        sign = -1 if kind == "expenses" else 1
        assert Decimal(str(resp.json["amount"])) * sign > 0
        return
    assert not expected, (body, resp.status_code, resp.get_data(as_text=True))
    assert resp.status_code in (400, 422), (body, resp.status_code)
    _assert_error_shape(resp)


@given(body=json_values)
def test_any_json_value_as_create_body_never_500(client, body):
    resp = client.post("/incomes", data=json.dumps(body), headers=HEADERS)
    if resp.status_code != 201:
        assert resp.status_code in (400, 422), (body, resp.status_code)
        _assert_error_shape(resp)


@given(
    kind=st.sampled_from(["incomes", "expenses"]),
    body=st.one_of(
        json_values.map(json.dumps),
        st.builds(_body, descriptions | st.just(_MISSING), amounts | st.just(_MISSING), extras),
        st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    ),
)
def test_patch_body_never_500_and_errors_have_one_shape(client, existing, kind, body):
    resp = client.patch(f"/{kind}/{existing[kind]}", data=body, headers=HEADERS)
    if resp.status_code != 200:
        assert resp.status_code in (400, 422), (body, resp.status_code)
        _assert_error_shape(resp)
