"""Shared fixtures: a test kit (RSA key + JWKS served through ``responses``),
a fresh app and database per test, a client, and a ``token(...)`` factory."""

from __future__ import annotations

import pytest
import responses

from auth.testing import AuthKit
from cashman import create_app
from cashman.config import Settings

READ = "read:transactions"
WRITE = "write:transactions"


@pytest.fixture
def kit() -> AuthKit:
    """A fresh issuer: its own RSA key, issuer URL and audience."""
    return AuthKit()


@pytest.fixture
def jwks(kit):
    """The kit's JWKS served through ``responses``; yields the mock to inspect calls."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        yield rsps


@pytest.fixture
def env(kit, tmp_path) -> dict[str, str]:
    """The environment the app is built from; tests may change it before ``app``."""
    return {**kit.env(), "DATABASE_URL": f"sqlite:///{tmp_path / 'cashman.db'}"}


@pytest.fixture
def app(env, jwks):
    return create_app(Settings.from_env(env))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(kit):
    """``token(scopes=..., **claims)`` -> a signed access token from the kit."""

    def make(scopes=(READ, WRITE), **claims):
        return kit.mint(scopes=scopes, claims=claims)

    return make


@pytest.fixture
def bearer(token):
    """``bearer(scopes=..., **claims)`` -> headers with a fresh token."""

    def make(scopes=(READ, WRITE), **claims):
        return {"Authorization": f"Bearer {token(scopes, **claims)}"}

    return make
