"""Golden responses: the exact bytes the API answers, pinned so a refactoring changes none.

Each case is one request and the response's status, every header, and the body
bytes. The ``created_at`` of a row the API itself created (now) is the one thing
that varies from run to run: it becomes ``<now>`` before comparing. Every request
names its own ``X-Request-ID``, which the API echoes. Rows that lists, pages and
the balance show are inserted with fixed timestamps, so their bodies and ``Link``
cursors are fixed too. The OpenAPI document is kept, indented, in
``golden/openapi.json``. Runs on SQLite and PostgreSQL: both must answer the same
bytes.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import simplejson

from cashman.models import Transaction

GOLDEN = Path(__file__).parent / "golden"
REQUEST_ID = {"X-Request-ID": "golden"}
_CREATED_AT = re.compile(rb'"created_at":"([^"]*)"')

JSON = ("Content-Type", "application/json")
NO_STORE = ("Cache-Control", "no-store")
ECHOED_ID = ("X-Request-ID", "golden")


def wire(resp) -> tuple[int, dict[str, str], bytes]:
    """Status, headers, and body with the API-made ``created_at`` as ``<now>``.

    Headers are compared by name, not by their order (RFC 9110 §5.3: the order of
    fields with different names carries no meaning), and no name may appear twice.
    """
    headers = list(resp.headers.items())
    assert len({name.lower() for name, _ in headers}) == len(headers), headers
    body = _CREATED_AT.sub(_mark_now, resp.get_data())
    return resp.status_code, dict(headers), body


def _mark_now(match: re.Match[bytes]) -> bytes:
    """A ``created_at`` within an hour of now was made by this test run."""
    made = datetime.strptime(match[1].decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (
        b'"created_at":"<now>"' if abs(made - datetime.now(UTC)) < timedelta(hours=1) else match[0]
    )


def json_headers(length: int, *extra: tuple[str, str]) -> dict[str, str]:
    """The headers of a JSON answer of ``length`` bytes, plus ``extra``."""
    return dict([JSON, ("Content-Length", str(length)), *extra, NO_STORE, ECHOED_ID])


@pytest.fixture
def send(client, auth):
    """``send(method, path, headers=auth, **kwargs)`` -> the response, with the request id."""

    def request(method, path, headers=None, **kwargs):
        headers = {**(auth if headers is None else headers), **REQUEST_ID}
        return client.open(path, method=method, headers=headers, **kwargs)

    return request


@pytest.fixture
def seeded(app, create, rows):
    """user-1's first income made through the API (id 1), then four rows at fixed times."""
    create("incomes", "first", 1)
    owner = rows()[0].owner
    seeds = [
        ("INCOME", "salary", Decimal("2500.00"), datetime(2030, 1, 1, 9, 0, tzinfo=UTC)),
        ("EXPENSE", 'rent \u00e9 "flat"', Decimal("-700.25"), datetime(2030, 1, 2, tzinfo=UTC)),
        ("INCOME", "gift", Decimal("0.10"), datetime(2030, 1, 3, 12, 30, 0, 5, tzinfo=UTC)),
        ("EXPENSE", "coffee", Decimal("-3.50"), datetime(2030, 1, 4, 8, 15, tzinfo=UTC)),
    ]
    with app.extensions["cashman.db"].writing() as session:
        session.add_all(
            Transaction(owner=owner, kind=k, description=d, amount=a, created_at=c)
            for k, d, a, c in seeds
        )
    return owner


# --- successful answers ---------------------------------------------------------------


def test_ping(send):
    assert wire(send("GET", "/ping", headers={})) == (
        200,
        json_headers(64),
        b'{"message":"pong: Cashman is up; this endpoint needs no token"}\n',
    )


def test_secured_ping(send):
    assert wire(send("GET", "/secured/ping")) == (
        200,
        json_headers(47),
        b'{"message":"pong: your access token is valid"}\n',
    )


def test_readyz(send):
    assert wire(send("GET", "/readyz", headers={})) == (
        200,
        json_headers(19),
        b'{"status":"ready"}\n',
    )


def test_list_first_page_with_link(send, seeded):
    assert wire(send("GET", "/transactions?limit=2")) == (
        200,
        json_headers(
            212,
            ("Link", '</transactions?limit=2&cursor=MTg5MzY3MzgwMDAwMDAwNS40>; rel="next"'),
        ),
        b'[{"id":5,"description":"coffee","amount":-3.50,"type":"EXPENSE",'
        b'"created_at":"2030-01-04T08:15:00.000000Z"},'
        b'{"id":4,"description":"gift","amount":0.10,"type":"INCOME",'
        b'"created_at":"2030-01-03T12:30:00.000005Z"}]\n',
    )


def test_list_next_page(send, seeded):
    assert wire(send("GET", "/transactions?limit=1&cursor=MTg5MzY3MzgwMDAwMDAwNS40")) == (
        200,
        json_headers(
            125,
            ("Link", '</transactions?limit=1&cursor=MTg5MzU0MjQwMDAwMDAwMC4z>; rel="next"'),
        ),
        b'[{"id":3,"description":"rent \\u00e9 \\"flat\\"","amount":-700.25,'
        b'"type":"EXPENSE","created_at":"2030-01-02T00:00:00.000000Z"}]\n',
    )


def test_list_last_page_of_one_kind_has_no_link(send, seeded):
    assert wire(send("GET", "/incomes?limit=3&cursor=MTg5MzU0MjQwMDAwMDAwMC4z")) == (
        200,
        json_headers(214),
        b'[{"id":2,"description":"salary","amount":2500.00,"type":"INCOME",'
        b'"created_at":"2030-01-01T09:00:00.000000Z"},'
        b'{"id":1,"description":"first","amount":1.00,"type":"INCOME",'
        b'"created_at":"<now>"}]\n',
    )


def test_empty_list(send):
    assert wire(send("GET", "/expenses")) == (200, json_headers(3), b"[]\n")


def test_create_income(send):
    body = {"description": " lunch ", "amount": 12.5}
    assert wire(send("POST", "/incomes", json=body)) == (
        201,
        json_headers(105, ("Location", "/incomes/1")),
        b'{"id":1,"description":"lunch","amount":12.50,"type":"INCOME","created_at":"<now>"}\n',
    )


def test_create_expense(send):
    body = '{"description": "rent", "amount": 7E+2}'
    assert wire(send("POST", "/expenses", data=body, content_type="application/json")) == (
        201,
        json_headers(107, ("Location", "/expenses/1")),
        b'{"id":1,"description":"rent","amount":-700.00,"type":"EXPENSE","created_at":"<now>"}\n',
    )


# the stored first response, replayed as stored: no trailing newline
KEYED_CREATED = (
    201,
    json_headers(104, ("Location", "/expenses/1")),
    b'{"id":1,"description":"taxi","amount":-9.90,"type":"EXPENSE","created_at":"<now>"}',
)


def test_create_with_idempotency_key_then_its_replay(send, auth):
    keyed = {**auth, "Idempotency-Key": "golden-key"}
    first = send("POST", "/expenses", headers=keyed, json={"description": "taxi", "amount": 9.9})
    again = send("POST", "/expenses", headers=keyed, json={"amount": 9.90, "description": "taxi"})
    assert wire(first) == KEYED_CREATED
    assert wire(again) == KEYED_CREATED
    assert again.get_data() == first.get_data()


def test_get_one(send, seeded):
    assert wire(send("GET", "/incomes/4")) == (
        200,
        json_headers(103),
        b'{"id":4,"description":"gift","amount":0.10,"type":"INCOME",'
        b'"created_at":"2030-01-03T12:30:00.000005Z"}\n',
    )


def test_patch_one(send, seeded):
    patch = {"amount": 4, "description": "espresso"}
    assert wire(send("PATCH", "/expenses/5", json=patch)) == (
        200,
        json_headers(109),
        b'{"id":5,"description":"espresso","amount":-4.00,"type":"EXPENSE",'
        b'"created_at":"2030-01-04T08:15:00.000000Z"}\n',
    )


def test_delete_one(send, seeded):
    assert wire(send("DELETE", "/expenses/5")) == (204, dict([NO_STORE, ECHOED_ID]), b"")


def test_balance(send, seeded):
    assert wire(send("GET", "/balance")) == (
        200,
        json_headers(57),
        b'{"incomes":2501.10,"expenses":-703.75,"balance":1797.35}\n',
    )


def test_openapi_document(send):
    status, headers, body = wire(send("GET", "/openapi.json", headers={}))
    # stored indented so that a change to the document reads as a diff; served compact
    stored = simplejson.loads((GOLDEN / "openapi.json").read_text("utf-8"), use_decimal=True)
    compact = simplejson.dumps(stored, use_decimal=True, separators=(",", ":")).encode() + b"\n"
    assert (status, headers) == (
        200,
        dict([JSON, ("Content-Length", str(len(compact))), ECHOED_ID]),
    )
    assert body == compact


# --- errors: one shape -----------------------------------------------------------------


def test_400_malformed_json(send):
    assert wire(send("POST", "/incomes", data=b"{", content_type="application/json")) == (
        400,
        json_headers(76),
        b'{"code":"invalid_json","description":"The request body is not valid JSON."}\n',
    )


def test_400_duplicate_members(send):
    body = b'{"description": "x", "amount": 1, "amount": 2}'
    assert wire(send("POST", "/incomes", data=body, content_type="application/json")) == (
        400,
        json_headers(85),
        b'{"code":"invalid_json","description":"The request body has duplicate member names."}\n',
    )


def test_404_unknown_path(send):
    assert wire(send("GET", "/nowhere")) == (
        404,
        json_headers(67),
        b'{"code":"not_found","description":"There is nothing at this URL."}\n',
    )


def test_404_absent_transaction(send):
    assert wire(send("GET", "/incomes/7")) == (
        404,
        json_headers(67),
        b'{"code":"not_found","description":"There is no such transaction."}\n',
    )


def test_405_names_the_allowed_methods(send):
    status, headers, body = wire(send("PUT", "/incomes/1"))
    # werkzeug lists Allow from a set: its order is the hash seed's, so compare as a set
    allow = headers.pop("Allow")
    assert set(allow.split(", ")) == {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH"}
    assert (status, headers, body) == (
        405,
        json_headers(97),
        b'{"code":"method_not_allowed",'
        b'"description":"This method is not allowed on this URL; see Allow."}\n',
    )


def test_411_chunked_body_the_server_did_not_dechunk(send, auth):
    headers = {**auth, "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    resp = send("POST", "/incomes", headers=headers, input_stream=io.BytesIO(b'{"amount": 1}'))
    assert wire(resp) == (
        411,
        json_headers(73),
        b'{"code":"length_required","description":"A Content-Length is required."}\n',
    )


def test_413_body_over_64_kib(send):
    body = b'{"description": "' + b"x" * 70_000 + b'", "amount": 1}'
    assert wire(send("POST", "/incomes", data=body, content_type="application/json")) == (
        413,
        json_headers(85),
        b'{"code":"payload_too_large","description":"The request body is larger than 64 KiB."}\n',
    )


def test_415_not_json(send):
    assert wire(send("POST", "/incomes", data=b"amount=1", content_type="text/plain")) == (
        415,
        json_headers(101, ("Accept", "application/json")),
        b'{"code":"unsupported_media_type",'
        b'"description":"The request body must be application/json (UTF-8)."}\n',
    )


def test_422_validation_names_the_fields(send):
    body = {"description": "", "amount": "12.5", "owner": "alice"}
    assert wire(send("POST", "/incomes", json=body)) == (
        422,
        json_headers(220),
        b'{"code":"validation_error","description":"The request is invalid; see errors.",'
        b'"errors":{"description":["Must be 1 to 200 characters after trimming spaces."],'
        b'"amount":["Not a valid number."],"owner":["Unknown field."]}}\n',
    )


def test_422_idempotency_key_reused(send, auth):
    keyed = {**auth, "Idempotency-Key": "golden-key"}
    send("POST", "/incomes", headers=keyed, json={"description": "a", "amount": 1})
    resp = send("POST", "/incomes", headers=keyed, json={"description": "b", "amount": 1})
    assert wire(resp) == (
        422,
        json_headers(114),
        b'{"code":"idempotency_key_reused",'
        b'"description":"This Idempotency-Key was already used with a different request."}\n',
    )


def test_503_database_unavailable(app, send):
    database = app.extensions["cashman.db"]
    database.dispose()
    app.extensions["cashman.db"] = type(database)("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert wire(send("GET", "/incomes")) == (
        503,
        json_headers(90, ("Retry-After", "5")),
        b'{"code":"database_unavailable",'
        b'"description":"The database is unavailable; retry later."}\n',
    )
    assert wire(send("GET", "/readyz", headers={})) == (
        503,
        json_headers(126, ("Retry-After", "5")),
        b'{"code":"not_ready",'
        b'"description":"The service is not ready to serve; retry later",'
        b'"errors":{"database":["does not answer"]}}\n',
    )


# --- CORS ------------------------------------------------------------------------------

ORIGIN = "https://app.example.com"
EXPOSED = (
    "Access-Control-Expose-Headers",
    "Accept, Accept-Encoding, Accept-Patch, Allow, DPoP-Nonce, Link, Location, Retry-After, "
    "WWW-Authenticate, X-Request-ID",
)
VARY = ("Vary", "Origin")


class TestCORS:
    @pytest.fixture
    def env(self, env):
        return {**env, "CORS_ORIGINS": ORIGIN}

    def test_preflight(self, send):
        headers = {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        }
        assert wire(send("OPTIONS", "/incomes", headers=headers)) == (
            204,
            dict(
                [
                    NO_STORE,
                    VARY,
                    ("Access-Control-Allow-Origin", ORIGIN),
                    EXPOSED,
                    (
                        "Access-Control-Allow-Headers",
                        "authorization, content-type, idempotency-key",
                    ),
                    ("Access-Control-Max-Age", "600"),
                    ("Access-Control-Allow-Methods", "DELETE, GET, OPTIONS, PATCH, POST"),
                    ECHOED_ID,
                ]
            ),
            b"",
        )

    def test_preflight_from_another_origin_to_an_unknown_path(self, send):
        headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        assert wire(send("OPTIONS", "/nowhere", headers=headers)) == (
            204,
            dict([NO_STORE, VARY, ECHOED_ID]),
            b"",
        )

    def test_actual_request(self, send, auth):
        body = {"description": "x", "amount": 1}
        assert wire(send("POST", "/incomes", headers={**auth, "Origin": ORIGIN}, json=body)) == (
            201,
            json_headers(
                100,
                ("Location", "/incomes/1"),
                VARY,
                ("Access-Control-Allow-Origin", ORIGIN),
                EXPOSED,
            ),
            b'{"id":1,"description":"x","amount":1.00,"type":"INCOME","created_at":"<now>"}\n',
        )

    def test_actual_refusal_is_readable(self, send):
        assert wire(send("GET", "/incomes", headers={"Origin": ORIGIN})) == (
            401,
            json_headers(
                112,
                ("WWW-Authenticate", 'Bearer realm="cashman"'),
                ("Access-Control-Allow-Origin", ORIGIN),
                EXPOSED,
                VARY,
            ),
            b'{"code":"authorization_header_missing",'
            b'"description":"An access token is required in the Authorization header"}\n',
        )
