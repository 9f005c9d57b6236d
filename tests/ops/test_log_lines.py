"""Every line the app writes to stderr is one JSON object (SPEC §6), tokens redacted (§3).

Beside the request lines, the app's and ``auth``'s loggers speak of failures: the replay
store unreachable, a refused request answered 503, a bug's traceback. Those were plain
text in the same stream, without the request's id (``cashman.log_lines``).
"""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import text

from auth.testing import DPoPKey, dpop_headers

BASE = "http://localhost"


@pytest.fixture
def env(env):
    return {**env, "API_BASE_URL": BASE}  # DPoP on


def stderr_objects(capsys) -> list[dict]:
    """Every stderr line, each parsed as JSON (fails on a line that is not)."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_a_replay_store_outage_is_told_in_json_lines_with_the_request_id(app, client, kit, capsys):
    client_key = DPoPKey()
    token = client_key.mint_bound(kit, scopes=["read:transactions"])
    with app.extensions["cashman.db"].engine.begin() as connection:
        connection.execute(text("DROP TABLE dpop_replay"))
    capsys.readouterr()
    proof = client_key.proof("GET", f"{BASE}/secured/ping", token)
    headers = {**dpop_headers(token, proof), "X-Request-ID": "outage-1"}
    resp = client.get("/secured/ping", headers=headers)
    assert (resp.status_code, resp.json["code"]) == (503, "dpop_replay_unavailable")
    lines = stderr_objects(capsys)
    told = {(line["logger"], line["level"]) for line in lines if line["event"] == "log"}
    assert {("cashman.dpop_replay", "warning"), ("auth.extension", "warning")} <= told, lines
    assert {line["request_id"] for line in lines} == {"outage-1"}, lines
    assert token not in json.dumps(lines) and proof not in json.dumps(lines)


def test_a_bug_is_one_json_line_with_its_traceback_redacted(app, client, kit, capsys):
    token = kit.mint()

    def broken():
        raise RuntimeError(f"failed on {token}")

    app.add_url_rule("/broken", view_func=broken)
    capsys.readouterr()
    assert client.get("/broken", headers={"X-Request-ID": "bug-1"}).status_code == 500
    lines = stderr_objects(capsys)
    [bug] = [line for line in lines if line["event"] == "log"]
    assert (bug["level"], bug["message"], bug["request_id"]) == (
        "error",
        "unhandled error",
        "bug-1",
    )
    assert "RuntimeError: failed on [redacted]" in bug["traceback"], bug["traceback"]
    assert token not in json.dumps(lines)


def test_a_line_outside_any_request_has_no_request_id(app, capsys):
    capsys.readouterr()
    url = "https://dev-abc123.us.auth0.com/.well-known/jwks.json"
    logging.getLogger("auth.jwks").warning("JWKS fetch from %s failed: %s", url, "boom")
    [line] = stderr_objects(capsys)
    # the message is not redacted: a tenant's dotted host is no token
    assert line == {
        "event": "log",
        "level": "warning",
        "logger": "auth.jwks",
        "message": f"JWKS fetch from {url} failed: boom",
    }
