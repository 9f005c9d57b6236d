"""Readiness (SPEC §6): ``/readyz`` is 200 while the database answers and every issuer has a
usable key set, else 503 JSON naming what is not ready; ``/ping`` depends on neither."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from auth.testing import JWKSServer
from cashman import create_app
from cashman.config import Settings


def break_database(app) -> None:
    """Make every new connection fail: the SQLite file becomes a directory."""
    database = app.extensions["cashman.db"]
    path = Path(make_url(database.url).database)
    database.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.mkdir()


def test_readyz_ready(client):
    resp = client.get("/readyz")
    assert (resp.status_code, resp.json) == (200, {"status": "ready"})


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
def test_readyz_is_public(client, headers):
    assert client.get("/readyz", headers=headers).status_code == 200


def test_readyz_not_ready_when_database_fails(app, client):
    break_database(app)
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json["code"] == "not_ready"
    assert isinstance(resp.json["description"], str) and resp.json["description"]
    assert "Retry-After" in resp.headers


def test_readyz_not_cached(client):
    assert client.get("/readyz").headers["Cache-Control"] == "no-store"


def test_ping_stays_alive_when_database_fails(app, client):
    break_database(app)
    assert client.get("/ping").status_code == 200


# --- issuers: a usable key set each (SPEC §6), from a JWKS served on loopback ---------


@pytest.fixture
def issuers(kit):
    """Two loopback JWKS servers of the kit's key set; closed at the end."""
    servers = [JWKSServer(kit.jwks), JWKSServer(kit.jwks)]
    yield servers
    for server in servers:
        server.close()


def app_for(tmp_path, servers, **env):
    settings = {
        "AUTH0_ISSUER": ",".join(server.issuer for server in servers),
        "API_AUDIENCE": "https://api.cashman.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ready.db'}",
        **env,
    }
    return create_app(Settings.from_env(settings))


def test_readyz_fetches_a_key_set_not_yet_fetched(tmp_path, issuers):
    client = app_for(tmp_path, issuers).test_client()
    resp = client.get("/readyz")
    assert (resp.status_code, resp.json) == (200, {"status": "ready"})
    assert [server.fetches for server in issuers] == [1, 1]
    # keys in hand: later probes fetch nothing
    assert client.get("/readyz").status_code == 200
    assert [server.fetches for server in issuers] == [1, 1]


def test_readyz_names_the_issuer_whose_jwks_is_down_never_its_url(tmp_path, issuers):
    issuers[1].close()
    resp = app_for(tmp_path, issuers).test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json["code"] == "not_ready"
    assert resp.json["errors"] == {"issuer[1]": ["no usable key set"]}
    assert "Retry-After" in resp.headers
    assert "127.0.0.1" not in resp.get_data(as_text=True)


def test_readyz_refuses_a_jwks_that_is_garbage(tmp_path, issuers):
    issuers[0].jwks = {"keys": "not a list"}
    resp = app_for(tmp_path, issuers).test_client().get("/readyz")
    assert (resp.status_code, resp.json["errors"]) == (503, {"issuer[0]": ["no usable key set"]})


def test_readyz_probes_cannot_flood_an_issuer(tmp_path, issuers):
    issuers[0].jwks = {"keys": []}
    client = app_for(tmp_path, issuers, JWKS_MIN_REFRESH_INTERVAL="300").test_client()
    answers = [client.get("/readyz").status_code for _ in range(5)]
    assert answers == [503] * 5
    # one attempt; the next one only after the refresh interval
    assert issuers[0].fetches == 1


def test_readyz_not_ready_once_keys_are_older_than_max_stale(tmp_path, issuers):
    client = app_for(
        tmp_path, issuers, JWKS_MAX_STALE="1", JWKS_MIN_REFRESH_INTERVAL="0"
    ).test_client()
    assert client.get("/readyz").status_code == 200
    issuers[0].jwks = {"keys": []}  # every refresh fails from now on
    time.sleep(1.5)  # past JWKS_MAX_STALE
    resp = client.get("/readyz")
    assert (resp.status_code, resp.json["errors"]) == (503, {"issuer[0]": ["no usable key set"]})


def test_readyz_names_the_database_and_the_issuer_together(tmp_path, issuers):
    issuers[0].close()
    app = app_for(tmp_path, issuers)
    break_database(app)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert set(resp.json["errors"]) == {"database", "issuer[0]"}


def test_ping_depends_on_neither_the_database_nor_the_issuers(tmp_path, issuers):
    for server in issuers:
        server.close()
    app = app_for(tmp_path, issuers)
    break_database(app)
    client = app.test_client()
    assert client.get("/ping").status_code == 200
    assert [server.fetches for server in issuers] == [0, 0]
