"""Request bodies and query strings: 422 per field, 400 for bad JSON, 415, 413."""

from __future__ import annotations

import gzip
import io

import pytest

BIG = 64 * 1024


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"description": "x", "amount": "12.5"}', "amount"),
        ('{"description": "x", "amount": true}', "amount"),
        ('{"description": "x", "amount": false}', "amount"),
        ('{"description": "x", "amount": null}', "amount"),
        ('{"description": "x", "amount": [1]}', "amount"),
        ('{"description": "x", "amount": {"v": 1}}', "amount"),
        ('{"description": "x", "amount": NaN}', "amount"),
        ('{"description": "x", "amount": Infinity}', "amount"),
        ('{"description": "x", "amount": -Infinity}', "amount"),
        ('{"description": "x", "amount": 0}', "amount"),
        ('{"description": "x", "amount": -0}', "amount"),
        ('{"description": "x", "amount": 0.00}', "amount"),
        ('{"description": "x", "amount": -5}', "amount"),
        ('{"description": "x", "amount": 0.001}', "amount"),
        ('{"description": "x", "amount": 1.005}', "amount"),
        ('{"description": "x", "amount": 1000000000.01}', "amount"),
        ('{"description": "x", "amount": 1e400}', "amount"),
        ('{"description": "x", "amount": 1e-400}', "amount"),
        ('{"description": "x", "amount": 1' + "1" * 5000 + "}", "amount"),
        ('{"description": "x", "amount": -1' + "0" * 5000 + "}", "amount"),
        ('{"description": "x", "amount": 1' + "0" * 5000 + ".5}", "amount"),
        ('{"description": "", "amount": 1}', "description"),
        ('{"description": "   ", "amount": 1}', "description"),
        ('{"description": "' + "x" * 201 + '", "amount": 1}', "description"),
        ('{"description": 5, "amount": 1}', "description"),
        ('{"description": null, "amount": 1}', "description"),
        ('{"description": "a\\nb", "amount": 1}', "description"),
        ('{"description": "a\\u0000b", "amount": 1}', "description"),
        ('{"description": "a\\u007fb", "amount": 1}', "description"),
        ('{"description": "a\\ud800b", "amount": 1}', "description"),
        ('{"amount": 1}', "description"),
        ('{"description": "x"}', "amount"),
        ('{"description": "x", "amount": 1, "id": 7}', "id"),
        ('{"description": "x", "amount": 1, "owner": "alice"}', "owner"),
    ],
)
def test_invalid_income_is_422_naming_the_field(client, auth, rows, body, field):
    resp = client.post("/incomes", data=body, content_type="application/json", headers=auth)
    assert resp.status_code == 422
    assert resp.json["code"] == "validation_error"
    assert isinstance(resp.json["description"], str)
    assert list(resp.json["errors"]) == [field]
    assert all(isinstance(m, str) for m in resp.json["errors"][field])
    assert rows() == []


@pytest.mark.parametrize(
    ("amount", "stored"),
    [("-5", "-5.00"), ("5", "-5.00"), ("-0.01", "-0.01"), ("-1000000000", "-1000000000.00")],
)
def test_expense_accepts_either_sign(client, auth, amount, stored):
    body = f'{{"description": "x", "amount": {amount}}}'
    resp = client.post("/expenses", data=body, content_type="application/json", headers=auth)
    assert resp.status_code == 201
    assert str(resp.json["amount"]) == stored


@pytest.mark.parametrize("amount", ["0", "-0", "1000000000.01", "-1000000000.01", "true"])
def test_expense_out_of_range_is_422(client, auth, amount):
    body = f'{{"description": "x", "amount": {amount}}}'
    resp = client.post("/expenses", data=body, content_type="application/json", headers=auth)
    assert (resp.status_code, list(resp.json["errors"])) == (422, ["amount"])
    if amount != "true":  # an expense's range has two sides: the message names both
        assert resp.json["errors"]["amount"] == [
            "Must be from -1000000000 to 1000000000, and not 0."
        ]


def test_description_is_trimmed_and_200_chars_allowed(client, auth):
    text = "é" * 200
    resp = client.post("/incomes", json={"description": f"  {text}\t", "amount": 1}, headers=auth)
    assert (resp.status_code, resp.json["description"]) == (201, text)


@pytest.mark.parametrize(
    ("description", "stored"),
    [
        # trimming is ECMA-262's (String.prototype.trim, the document's pattern \S)
        ("\u3000x\u2028", "x"),
        ("\ufeffx\ufeff", "x"),
        ("\xa0x\u205f", "x"),
        # str.strip() kept U+FEFF (stored as a description of nothing) and took away
        # controls an ECMA-262 client keeps (accepted as "x")
        ("\ufeff\ufeff", None),
        ("\x1cx\x1f", None),
        ("\x85x", None),
    ],
)
def test_description_is_trimmed_as_the_document_says(client, auth, description, stored):
    resp = client.post("/incomes", json={"description": description, "amount": 1}, headers=auth)
    if stored is None:
        assert (resp.status_code, list(resp.json["errors"])) == (422, ["description"])
    else:
        assert (resp.status_code, resp.json["description"]) == (201, stored)


@pytest.mark.parametrize(
    ("body", "field"),
    [("{}", "_schema"), ('{"owner": "x"}', "owner"), ('{"amount": "1"}', "amount")],
)
def test_invalid_patch_is_422(client, auth, create, body, field):
    tx = create().json
    resp = client.patch(
        f"/incomes/{tx['id']}", data=body, content_type="application/json", headers=auth
    )
    assert (resp.status_code, resp.json["code"]) == (422, "validation_error")
    assert list(resp.json["errors"]) == [field]


@pytest.mark.parametrize(
    "body",
    [
        b'{"description": "x", "amount": 1',
        b"",
        b"not json",
        b"{'description': 'x'}",
        b'{"description": "\xff", "amount": 1}',
    ],
)
def test_malformed_json_is_400(client, auth, body):
    resp = client.post("/incomes", data=body, content_type="application/json", headers=auth)
    assert (resp.status_code, resp.json["code"]) == (400, "invalid_json")
    assert resp.json["description"] == "The request body is not valid JSON."


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,
        b"[" * 10_000 + b"]" * 10_000,
        b'{"description": "x", "amount": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001,
        b'{"description": ' + b"[" * 5000 + b'"x"' + b"]" * 5000 + b"}",
    ],
)
def test_valid_but_deeply_nested_json_is_400_saying_so(client, auth, body):
    assert len(body) < 64 * 1024
    resp = client.post("/incomes", data=body, content_type="application/json", headers=auth)
    assert (resp.status_code, resp.json["code"]) == (400, "invalid_json")
    assert resp.json["description"] == "The request body's JSON nests too deeply."


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/incomes", '{"description": "x", "amount": 1, "amount": 2}'),
        ("post", "/expenses", '{"description": "x", "description": "x", "amount": 1}'),
        ("post", "/incomes", '{"description": "x", "amount": 1, "extra": {"a": 1, "a": 1}}'),
        ("patch", "/incomes/1", '{"amount": 2, "amount": 3}'),
    ],
)
def test_duplicate_member_names_are_400(client, auth, create, rows, method, path, body):
    create()
    resp = getattr(client, method)(path, data=body, content_type="application/json", headers=auth)
    assert (resp.status_code, resp.json["code"]) == (400, "invalid_json")
    assert "duplicate member names" in resp.json["description"]
    assert [str(row.amount) for row in rows()] == ["10.00"]


@pytest.mark.parametrize(
    ("amount", "stored"), [("20", "20.00"), ("7.5", "7.50"), ("1e2", "100.00")]
)
def test_integer_and_decimal_amounts_are_accepted(client, auth, amount, stored):
    body = f'{{"description": "x", "amount": {amount}}}'
    resp = client.post("/incomes", data=body, content_type="application/json", headers=auth)
    assert resp.status_code == 201, resp.json
    assert str(resp.json["amount"]) == stored
    assert isinstance(resp.json["id"], int)


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"1", b"null", b"true"])
def test_json_that_is_not_an_object_is_422(client, auth, body):
    # well-formed JSON of the wrong type (SPEC §4: "wrong types" are 422, "malformed" 400)
    resp = client.post("/incomes", data=body, content_type="application/json", headers=auth)
    assert (resp.status_code, resp.json["code"]) == (422, "validation_error")
    assert resp.json["errors"] == {"_schema": ["The request body must be a JSON object."]}


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=latin-1",
        "text/json",
    ],
)
def test_non_json_content_type_is_415(client, auth, rows, content_type):
    headers = dict(auth)
    if content_type:
        headers["Content-Type"] = content_type
    resp = client.post("/incomes", data=b'{"description": "x", "amount": 1}', headers=headers)
    assert (resp.status_code, resp.json["code"]) == (415, "unsupported_media_type")
    # RFC 9110 §15.5.16 and §12.5.3: what is accepted, and no word of content codings
    assert resp.headers["Accept"] == "application/json"
    assert "Accept-Encoding" not in resp.headers
    assert "Accept-Patch" not in resp.headers  # POST to a list: no PATCH there
    assert rows() == []


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/vnd.cashman+json",
    ],
)
def test_json_content_types_are_accepted(client, auth, content_type):
    resp = client.post(
        "/incomes",
        data=b'{"description": "x", "amount": 1}',
        headers={**auth, "Content-Type": content_type},
    )
    assert resp.status_code == 201


@pytest.mark.parametrize("coding", ["gzip", "GZIP", "deflate", "br", "identity, gzip", "x"])
def test_body_with_a_content_coding_is_415(client, auth, rows, coding):
    # labelled as coded: refused whether it really is (gzip) or only says so (plain JSON)
    text = b'{"description": "x", "amount": 1}'
    for data in (gzip.compress(text), text):
        resp = client.post(
            "/incomes",
            data=data,
            headers={**auth, "Content-Type": "application/json", "Content-Encoding": coding},
        )
        assert (resp.status_code, resp.json["code"]) == (415, "unsupported_content_encoding")
        assert resp.headers["Accept-Encoding"] == "identity"  # RFC 9110 §12.5.3
    assert rows() == []


@pytest.mark.parametrize("coding", ["identity", "IDENTITY", ""])
def test_content_encoding_identity_is_no_coding(client, auth, coding):
    resp = client.post(
        "/incomes",
        data=b'{"description": "x", "amount": 1}',
        headers={**auth, "Content-Type": "application/json", "Content-Encoding": coding},
    )
    assert resp.status_code == 201


def test_patch_with_a_content_coding_is_415(client, auth, create):
    tx = create().json
    resp = client.patch(
        f"/incomes/{tx['id']}",
        data=gzip.compress(b'{"amount": 2}'),
        headers={**auth, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert (resp.status_code, resp.json["code"]) == (415, "unsupported_content_encoding")
    assert resp.headers["Accept-Encoding"] == "identity"
    assert "Accept-Patch" not in resp.headers  # the format was not the problem
    assert client.get(f"/incomes/{tx['id']}", headers=auth).json["amount"] == tx["amount"]


def test_patch_with_non_json_type_is_415(client, auth, create):
    tx = create().json
    resp = client.patch(f"/incomes/{tx['id']}", data="amount=1", headers=auth)
    assert resp.status_code == 415
    # RFC 5789 §2.2: a PATCH refused for its format SHOULD say which formats are taken
    assert resp.headers["Accept-Patch"] == "application/json"
    assert resp.headers["Accept"] == "application/json"


def _big_body(size: int) -> bytes:
    padding = size - len(b'{"description": "", "amount": 1}')
    return b'{"description": "' + b"x" * padding + b'", "amount": 1}'


def test_body_just_under_the_limit_is_read(client, auth):
    resp = client.post(
        "/incomes", data=_big_body(BIG), content_type="application/json", headers=auth
    )
    # read whole and parsed: the description is merely too long
    assert (resp.status_code, list(resp.json["errors"])) == (422, ["description"])


def test_body_over_64_kib_is_413(client, auth, rows):
    resp = client.post(
        "/incomes", data=_big_body(BIG + 1), content_type="application/json", headers=auth
    )
    assert (resp.status_code, resp.json["code"]) == (413, "payload_too_large")
    assert rows() == []


def test_chunked_body_over_64_kib_is_413(client, auth, rows):
    resp = client.post(
        "/incomes",
        input_stream=io.BytesIO(_big_body(BIG * 2)),
        headers={**auth, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        # what a server that de-chunks the body (gunicorn, werkzeug) tells the app
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert (resp.status_code, resp.json["code"]) == (413, "payload_too_large")
    assert rows() == []


def test_small_chunked_body_is_accepted(client, auth):
    resp = client.post(
        "/incomes",
        input_stream=io.BytesIO(b'{"description": "chunked", "amount": 3}'),
        headers={**auth, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert (resp.status_code, resp.json["description"]) == (201, "chunked")


def test_chunked_body_the_server_did_not_dechunk_is_411(client, auth):
    resp = client.post(
        "/incomes",
        input_stream=io.BytesIO(b'{"description": "x", "amount": 3}'),
        headers={**auth, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    assert (resp.status_code, resp.json["code"]) == (411, "length_required")


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "limit=",
        "limit=%D9%A3",  # ARABIC-INDIC DIGIT THREE: int() would take it
        "limit=%EF%BC%95",  # FULLWIDTH DIGIT FIVE
        "limit=%2B5",
        "limit=05",
        "limit=%205",
        "limit=5%20",
        "limit=1_0",
        "limit=1e2",
        "limit=0x10",
        "limit=" + "9" * 5000,
        "limit=1&limit=2",
        "limit=2&limit=2",
    ],
)
def test_bad_limit_is_422(client, auth, query):
    resp = client.get(f"/transactions?{query}", headers=auth)
    assert (resp.status_code, resp.json["code"]) == (422, "validation_error")
    assert list(resp.json["errors"]) == ["limit"]


@pytest.mark.parametrize("limit", ["0", "501", "999", "abc"])
def test_limit_out_of_range_says_the_range_whatever_the_side(client, auth, limit):
    resp = client.get(f"/transactions?limit={limit}", headers=auth)
    assert resp.json["errors"] == {"limit": ["Must be an integer from 1 to 500."]}


@pytest.mark.parametrize(
    "cursor",
    ["garbage!", "MTIz", "bm9wZQ", "x" * 65, "LTEuMQ", "OTk5OTk5OTk5OTk5OTk5OTk5LjE", "%00"],
)
def test_forged_cursor_is_422(client, auth, cursor):
    resp = client.get(f"/incomes?cursor={cursor}", headers=auth)
    assert (resp.status_code, list(resp.json["errors"])) == (422, ["cursor"])


@pytest.mark.parametrize("limit", ["1", "9", "10", "99", "100", "500"])
def test_plain_limit_is_accepted(client, auth, create, limit):
    for _ in range(2):
        create()
    resp = client.get(f"/incomes?limit={limit}", headers=auth)
    assert (resp.status_code, len(resp.json)) == (200, min(int(limit), 2))


def test_repeated_cursor_is_422(client, auth, create):
    for _ in range(3):
        create()
    link = client.get("/incomes?limit=1", headers=auth).headers["Link"]
    cursor = link.split("cursor=")[1].split(">")[0].split("&")[0]
    resp = client.get(f"/incomes?cursor={cursor}&cursor={cursor}", headers=auth)
    assert (resp.status_code, resp.json["code"]) == (422, "validation_error")
    assert list(resp.json["errors"]) == ["cursor"]


def test_unknown_query_parameters_are_ignored(client, auth, create):
    create()
    resp = client.get("/incomes?access_token=abc&foo=1", headers=auth)
    assert (resp.status_code, len(resp.json)) == (200, 1)


@pytest.mark.parametrize(
    "key", ["", "a" * 256, "spaces inside", "tab\tkey", "ключ", "a,b", "a, b", ","]
)
def test_malformed_idempotency_key_is_422(client, auth, rows, key):
    resp = client.post(
        "/incomes",
        json={"description": "x", "amount": 1},
        headers={**auth, "Idempotency-Key": key},
    )
    assert (resp.status_code, list(resp.json["errors"])) == (422, ["Idempotency-Key"])
    assert rows() == []


class BrokenStream(io.RawIOBase):
    """A server's input that yields a few bytes, then fails as a broken chunked body does."""

    def __init__(self, error: Exception) -> None:
        self.error, self.sent = error, False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self.sent:
            self.sent = True
            return b'{"description": '
        raise self.error


class InvalidChunkSize(Exception):
    """Like a server's own parse error: not an ``OSError``, not known to the app."""


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(
    "error", [OSError("connection reset"), ConnectionResetError(), InvalidChunkSize("zz")]
)
def test_unreadable_chunked_body_is_400(client, auth, create, rows, caplog, method, error):
    path = create().headers["Location"] if method == "PATCH" else "/incomes"
    resp = client.open(
        path,
        method=method,
        headers={**auth, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={
            "wsgi.input": BrokenStream(error),
            "wsgi.input_terminated": True,
            "CONTENT_LENGTH": "",
        },
    )
    assert (resp.status_code, resp.json["code"]) == (400, "invalid_body")
    assert resp.json["description"] == "The request body could not be read."
    assert "Traceback" not in caplog.text
    assert len(rows()) == (1 if method == "PATCH" else 0)
