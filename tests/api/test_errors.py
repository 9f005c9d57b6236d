"""One JSON error shape for every failure; no-store on authenticated responses."""

from __future__ import annotations

import re

import psycopg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from werkzeug import exceptions

from cashman.database import Database

# every HTTP error class werkzeug defines (4xx and 5xx), its subclasses included
WERKZEUG_ERRORS = sorted(
    (
        cls
        for cls in vars(exceptions).values()
        if isinstance(cls, type) and issubclass(cls, exceptions.HTTPException) and cls.code
    ),
    key=lambda cls: (cls.code, cls.__name__),
)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/nowhere", 404, "not_found"),
        ("get", "/incomes/1/extra", 404, "not_found"),
        ("put", "/incomes", 405, "method_not_allowed"),
        ("delete", "/incomes", 405, "method_not_allowed"),
        ("post", "/balance", 405, "method_not_allowed"),
        ("post", "/ping", 405, "method_not_allowed"),
    ],
)
def test_routing_errors_are_json(client, auth, method, path, status, code):
    resp = getattr(client, method)(path, headers=auth)
    assert (resp.status_code, resp.mimetype) == (status, "application/json")
    assert resp.json == {"code": code, "description": resp.json["description"]}
    assert "<" not in resp.get_data(as_text=True)


def _spellings(rule: str) -> list[str]:
    """Other spellings of ``rule``'s path (its variables filled): each slash but the first
    doubled in turn (the test client reads a leading ``//`` as a host), and the trailing
    slash added or taken away."""
    path = re.sub(r"<[^>]+>", "1", rule)
    doubled = [path[:i] + "/" + path[i:] for i, char in enumerate(path) if char == "/" and i]
    return [*doubled, path.rstrip("/") if path.endswith("/") else path + "/"]


def test_no_spelling_of_a_path_is_redirected_to_a_url_from_host(app, client, auth):
    # werkzeug answered /incomes//1 with an HTML 308 to http://<Host>/incomes/1, before
    # authentication, keeping the method: an unknown path is a JSON 404 like any other
    seen = 0
    for rule in app.url_map.iter_rules():
        for path in _spellings(rule.rule):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                resp = client.open(
                    path, method=method, headers={**auth, "Host": "evil.example"}, json={}
                )
                seen += 1
                assert not 300 <= resp.status_code < 400, (method, path, resp.status_code)
                assert "Location" not in resp.headers, (method, path)
                if resp.status_code >= 400:
                    assert resp.mimetype == "application/json", (method, path)
    assert seen > 30


@pytest.mark.parametrize(
    "path",
    ["/incomes//1", "/secured//ping", "/incomes//", "/.well-known//oauth-protected-resource"],
)
def test_a_doubled_slash_is_an_unknown_path(client, auth, path):
    resp = client.patch(path, headers={**auth, "Host": "evil.example"}, json={"amount": 1})
    assert (resp.status_code, resp.json["code"]) == (404, "not_found")
    assert "Location" not in resp.headers


def test_405_names_the_allowed_methods(client, auth):
    resp = client.put("/incomes/1", headers=auth)
    assert resp.status_code == 405
    assert set(resp.headers["Allow"].split(", ")) >= {"GET", "PATCH", "DELETE"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/ping"), ("get", "/incomes"), ("Post", "/incomes"), ("options", "/ping")],
)
def test_a_method_not_in_upper_case_is_an_unknown_method(client, auth, method, path):
    # RFC 9110 §9.1: methods are case-sensitive; granian passes "get" on as sent, and
    # werkzeug's upper-casing routed it as GET
    resp = client.open(path, method=method, headers=auth)
    assert (resp.status_code, resp.json["code"]) == (405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"].split(", ")


def test_a_method_not_in_upper_case_on_an_unknown_path_is_404(client, auth):
    # as FOO on an unknown path: no path, so no Allow to give (a 405 must carry one)
    resp = client.open("/nowhere", method="get", headers=auth)
    assert (resp.status_code, resp.json["code"]) == (404, "not_found")


def test_bug_in_a_view_is_a_bare_json_500(app, client):
    def broken():
        raise RuntimeError("secret detail /etc/passwd")

    app.add_url_rule("/broken", view_func=broken)
    resp = client.get("/broken")
    assert resp.status_code == 500
    assert resp.json == {"code": "internal_error", "description": "Internal server error."}
    assert "secret" not in resp.get_data(as_text=True)
    assert "Traceback" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("error", WERKZEUG_ERRORS, ids=lambda cls: f"{cls.code}-{cls.__name__}")
def test_every_werkzeug_http_error_is_json_in_the_one_shape(app, client, error):
    def fail():
        raise error()

    app.add_url_rule("/fail", view_func=fail, methods=["GET"])
    resp = client.get("/fail")
    assert (resp.status_code, resp.mimetype) == (error.code, "application/json")
    assert set(resp.json) == {"code", "description"}
    assert re.fullmatch(r"[a-z][a-z0-9_]*", resp.json["code"]), resp.json
    assert resp.json["description"].strip()
    assert "<" not in resp.get_data(as_text=True)
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.postgres_only  # a database that refuses writes: a standby after a fail-over
def test_read_only_database_is_503_for_writes_not_500(app, client, auth, database_url):
    url = make_url(database_url)
    options = url.query["options"] + " -cdefault_transaction_read_only=on"
    read_only = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    app.extensions["cashman.db"].dispose()
    app.extensions["cashman.db"] = Database(read_only)
    body = {"description": "x", "amount": 1}
    answers = [
        client.post("/incomes", json=body, headers=auth),
        client.post("/expenses", json=body, headers={**auth, "Idempotency-Key": "k-1"}),
        client.delete("/incomes/1", headers=auth),
    ]
    for resp in answers:
        assert (resp.status_code, resp.json["code"]) == (503, "database_unavailable"), resp.json
        assert int(resp.headers["Retry-After"]) > 0
    assert client.get("/incomes", headers=auth).status_code == 200  # reads still work


@pytest.mark.parametrize(
    ("driver_error", "status"),
    [
        # a pooler restarting under psycopg answers out of turn: its own protocol error,
        # no SQLSTATE: an outage
        (psycopg.InternalError("received 2 results from command 'BEGIN'"), 503),
        # the rest of InternalError is a bug or corruption: a 500, with its traceback
        (psycopg.errors.InFailedSqlTransaction("current transaction is aborted"), 500),
        (psycopg.errors.DataCorrupted("invalid page in block 0"), 500),
    ],
    ids=["protocol", "aborted-transaction", "corrupted"],
)
def test_internal_database_errors_are_503_only_when_an_outage(app, client, driver_error, status):
    def fail():
        raise sa_exc.InternalError("SELECT 1", {}, driver_error)

    app.add_url_rule("/fail", view_func=fail)
    resp = client.get("/fail")
    expected = {503: "database_unavailable", 500: "internal_error"}[status]
    assert (resp.status_code, resp.json["code"]) == (status, expected)
    assert ("Retry-After" in resp.headers) == (status == 503)


def test_database_down_is_503_with_retry_after(app, client, auth):
    app.extensions["cashman.db"].dispose()
    app.extensions["cashman.db"] = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    for path in ("/incomes", "/balance"):
        resp = client.get(path, headers=auth)
        assert (resp.status_code, resp.json["code"]) == (503, "database_unavailable")
        assert int(resp.headers["Retry-After"]) > 0
    resp = client.post("/incomes", json={"description": "x", "amount": 1}, headers=auth)
    assert (resp.status_code, resp.json["code"]) == (503, "database_unavailable")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/incomes", None),
        ("get", "/balance", None),
        ("post", "/incomes", {"description": "x", "amount": 1}),
        ("post", "/incomes", {"description": "x"}),
        ("get", "/incomes/12345", None),
        ("get", "/secured/ping", None),
    ],
)
def test_authenticated_responses_are_not_stored(client, auth, method, path, body):
    resp = getattr(client, method)(path, json=body, headers=auth)
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer bad.token.here"}])
def test_refused_requests_are_not_stored(client, headers):
    resp = client.get("/incomes", headers=headers)
    assert resp.status_code == 401
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/incomes", "/incomes/1", "/ping", "/balance", "/openapi.json"])
@pytest.mark.parametrize("origin", [{}, {"Origin": "https://app.example.com"}])
def test_options_answer_is_empty_and_never_html(client, path, origin):
    resp = client.options(path, headers=origin)
    assert resp.status_code in (200, 204)
    assert resp.data == b""
    assert "Content-Type" not in resp.headers
    assert "GET" in resp.headers["Allow"]
    # RFC 5789 §3.1: a resource that allows PATCH names its patch format
    patchable = "PATCH" in resp.headers["Allow"]
    assert patchable is (path == "/incomes/1")
    assert resp.headers.get("Accept-Patch") == ("application/json" if patchable else None)


@pytest.mark.parametrize(
    ("protocol", "coding", "status", "code"),
    [
        # the development server read such a body by its chunks and ignored the rest
        ("HTTP/1.1", "gzip, chunked", 501, "unsupported_transfer_coding"),
        ("HTTP/1.1", "foo,chunked", 501, "unsupported_transfer_coding"),
        # RFC 9112 §6.3: chunked not last, the body's length cannot be known
        ("HTTP/1.1", "chunked, identity", 400, "invalid_framing"),
        ("HTTP/1.1", "gzip", 400, "invalid_framing"),
        ("HTTP/1.0", "chunked", 400, "invalid_framing"),
    ],
)
def test_a_transfer_coding_the_servers_do_not_decode_is_refused(
    app, client, auth, protocol, coding, status, code
):
    body = b'{"description": "te", "amount": 1}'
    headers = {**auth, "Content-Type": "application/json", "Transfer-Encoding": coding}
    resp = client.post(
        "/incomes", data=body, headers=headers, environ_overrides={"SERVER_PROTOCOL": protocol}
    )
    assert (resp.status_code, resp.json["code"]) == (status, code)
    # the body may still be on the connection: it is closed after the answer
    assert resp.headers["Connection"] == "close"
    assert client.get("/incomes", headers=auth).json == []
