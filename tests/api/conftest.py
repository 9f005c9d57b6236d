"""Helpers for the API tests: authorized headers, a ``create`` shortcut, database rows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cashman import create_app
from cashman.config import Settings
from cashman.models import IdempotencyRecord, Transaction


@pytest.fixture
def auth(bearer) -> dict[str, str]:
    """Headers of user-1 with read and write scopes."""
    return bearer()


@pytest.fixture
def create(client, auth):
    """``create(kind, description, amount, headers=auth)`` -> the 201 response."""

    def make(kind="incomes", description="salary", amount=10, headers=None):
        resp = client.post(
            f"/{kind}", json={"description": description, "amount": amount}, headers=headers or auth
        )
        assert resp.status_code == 201, resp.json
        return resp

    return make


@pytest.fixture
def rows(app):
    """``rows()`` -> every transaction row in the database, oldest id first."""

    def read(model=Transaction):
        db = app.extensions["cashman.db"]
        with db.reading() as session:
            return list(session.scalars(select(model).order_by(model.id)))

    return read


@pytest.fixture
def idempotency_rows(rows):
    return lambda: rows(IdempotencyRecord)


@pytest.fixture
def make_client(env, jwks):
    """``make_client(is_development=False, **env_changes)`` -> a client of such an app."""
    apps = []

    def make(is_development=False, **changes):
        settings = Settings.from_env({**env, **changes}, is_development=is_development)
        app = create_app(settings)
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["cashman.db"].dispose()
