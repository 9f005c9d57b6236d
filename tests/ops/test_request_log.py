"""One JSON line per request: request id, method, path without query, status, duration, sub."""

from __future__ import annotations

import io
import json
import re
import time
import uuid

import pytest
from werkzeug.test import EnvironBuilder

from cashman import request_log
from cashman.body_buffer import BodyBuffer

HEX_ID = re.compile(r"[0-9a-f]{32}")


def test_request_logged_with_all_fields(client, bearer, log_lines):
    resp = client.get("/secured/ping", headers=bearer())
    (entry,) = log_lines()
    assert entry["request_id"] == resp.headers["X-Request-ID"]
    assert (entry["method"], entry["path"], entry["status"], entry["sub"]) == (
        "GET",
        "/secured/ping",
        200,
        "user-1",
    )
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0


def test_anonymous_request_logged_without_sub(client, log_lines):
    client.get("/ping")
    (entry,) = log_lines()
    assert "sub" not in entry


@pytest.mark.parametrize(
    "path",
    [
        "/secured/ping?access_token={token}",
        "/incomes?limit=5&access_token={token}",
        "/nowhere?access_token={token}",
    ],
)
def test_token_never_logged(client, token, log_lines, capsys, caplog, path):
    secret = token()
    client.get(path.format(token=secret), headers={"Authorization": f"Bearer {secret}"})
    client.get(path.format(token=secret), headers={"Authorization": f"Bearer {secret}x"})
    (first, second) = log_lines()
    assert "?" not in first["path"] and "?" not in second["path"]
    assert secret not in caplog.text + capsys.readouterr().err


def test_line_written_to_stderr_as_json(client, capsys):
    client.get("/ping", headers={"X-Request-ID": "abc-123"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "abc-123" in line]
    assert [(line["path"], line["status"]) for line in lines] == [("/ping", 200)]


@pytest.mark.parametrize(
    "request_id",
    ["abc", "req-42", "a.b:c_d-e", "A" * 128, "0123456789abcdef0123456789abcdef"],
)
def test_sane_request_id_echoed(client, log_lines, request_id):
    resp = client.get("/ping", headers={"X-Request-ID": request_id})
    assert resp.headers["X-Request-ID"] == request_id
    assert log_lines()[0]["request_id"] == request_id


@pytest.mark.parametrize(
    "request_id",
    [
        "",
        "a b",
        "A" * 129,
        "<script>",
        "id\tx",
        "caf\u00e9",
        "a/b",
        "x;rm -rf",
        # an unsigned JWT fits in 128 characters; the head of a proof (header.payload.)
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "eyJ0eXAiOiJkcG9wK2p3dCJ9.eyJqdGkiOiJ4In0.abc",
        # the head of a token or proof cut to fit: its header, and its claims' start
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9",
        "trace-eyJpc3MiOiJodHRwczovL2Fw",
    ],
)
def test_insane_request_id_replaced(client, log_lines, request_id):
    resp = client.get("/ping", headers={"X-Request-ID": request_id.encode().decode("latin-1")})
    assert HEX_ID.fullmatch(resp.headers["X-Request-ID"])
    assert log_lines()[0]["request_id"] == resp.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("get", "/nowhere", {}, 404),
        ("delete", "/ping", {}, 405),
        ("get", "/incomes", {}, 401),
        ("get", "/incomes", {"Authorization": "Bearer a b"}, 400),
        ("post", "/incomes", {"Content-Type": "text/plain"}, 401),
    ],
)
def test_request_id_on_error_responses(client, log_lines, method, path, headers, status):
    resp = getattr(client, method)(path, headers=headers)
    assert resp.status_code == status
    assert HEX_ID.fullmatch(resp.headers["X-Request-ID"])
    assert log_lines()[0]["status"] == status


def test_the_first_128_characters_of_a_token_or_proof_are_no_request_id(
    client, log_lines, kit, client_key
):
    token = kit.mint()
    proof = client_key.proof("GET", "http://localhost/ping", token)
    for credential in (token, proof):
        for head in (credential[:128], credential[:20], credential[:128].replace(".", "-")):
            resp = client.get("/ping", headers={"X-Request-ID": head})
            assert HEX_ID.fullmatch(resp.headers["X-Request-ID"])
            assert log_lines()[-1]["request_id"] == resp.headers["X-Request-ID"]


def test_the_method_is_logged_as_sent(client, log_lines):
    # werkzeug upper-cases request.method; `get` (a 405 here) is not `GET`
    assert client.open("/ping", method="get").status_code == 405
    assert log_lines()[0]["method"] == "get"


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/ping").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_startup_line_names_issuers_and_audience(caplog):
    caplog.set_level("INFO", logger="cashman")
    request_log.log_startup(("https://a.example/",), "https://api.example/")
    (record,) = [r for r in caplog.records if r.name == "cashman"]
    assert json.loads(record.getMessage()) == {
        "event": "startup",
        "issuers": ["https://a.example/"],
        "audience": "https://api.example/",
    }


class BrokenStream:
    """A stderr that has gone away (closed pipe)."""

    def write(self, _text: str) -> int:
        raise BrokenPipeError()

    def flush(self) -> None:
        raise BrokenPipeError()


def test_lost_log_stream_does_not_cost_the_answer(client, monkeypatch):
    monkeypatch.setattr("sys.stderr", BrokenStream())
    resp = client.get("/ping")
    assert resp.status_code == 200 and resp.json["message"].startswith("pong")


@pytest.mark.parametrize(
    ("request_id", "method", "path", "status", "duration_ms", "sub"),
    [
        ("abc-123", "GET", "/ping", 200, 0.12, None),
        ("0" * 32, "POST", "/incomes", 201, 1234.5, "auth0|user-1"),
        ("x", "PATCH", '/caf\u00e9/"q"\\/\U0001f600', 404, 0.0, 'sub "with" \u00e9\n'),
        ("y", "GET", "/\u2028\x7f\x00", 503, 1e-05, "\ud83d"),
    ],
)
def test_line_is_the_json_of_its_fields(request_id, method, path, status, duration_ms, sub):
    fields = {
        "event": "request",
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
    }
    if sub is not None:
        fields["sub"] = sub
    line = request_log.request_line(request_id, method, path, status, duration_ms, sub)
    assert line == json.dumps(fields, ensure_ascii=False)


def test_fresh_request_ids_are_uuid4():
    ids = [request_log.uuid4_hex() for _ in range(200)]
    assert len(set(ids)) == 200
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, value)


@pytest.mark.parametrize(
    ("method", "logged"),
    [
        ("PUT", "PUT"),
        ("EYJHBGCIOIJUB25LIN0.EYJZDWIIOIJ4IN0.", "[redacted]"),
        ("X" * 40, "[redacted]"),
        ("M!" * 20, "M!" * 16 + "..."),
    ],
)
def test_method_logged_without_tokens_and_capped(client, log_lines, method, logged):
    # a server may pass any token as the method (granian does): it reaches the log line
    resp = client.open("/ping", method=method)
    assert resp.status_code == 405
    assert log_lines()[0]["method"] == logged


class SlowBody(io.RawIOBase):
    """A request body that takes ``delay_s`` to arrive, then ends."""

    def __init__(self, data: bytes, delay_s: float) -> None:
        self.data, self.delay_s = data, delay_s

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.data:
            return 0
        time.sleep(self.delay_s)
        size = min(len(buffer), len(self.data))
        buffer[:size], self.data = self.data[:size], self.data[size:]
        return size


def test_duration_counts_the_time_the_body_took_to_arrive(app, bearer, log_lines):
    # as a production worker runs the app: its BodyBuffer receives the body first
    app.wsgi_app = BodyBuffer(app.wsgi_app, 1)
    body = b'{"description": "slow", "amount": 1}'
    headers = {**bearer(), "Content-Type": "application/json"}
    environ = EnvironBuilder("/incomes", method="POST", data=body, headers=headers).get_environ()
    environ["wsgi.input"] = SlowBody(body, 0.3)
    statuses = []
    answer = app(environ, lambda status, _headers, _exc=None: statuses.append(status))
    b"".join(answer)
    getattr(answer, "close", lambda: None)()
    assert statuses == ["201 CREATED"]
    assert log_lines()[0]["duration_ms"] >= 300
