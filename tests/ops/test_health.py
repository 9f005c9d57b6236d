"""Readiness: ``/readyz`` is 200 while the database answers, 503 JSON when it does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url


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
