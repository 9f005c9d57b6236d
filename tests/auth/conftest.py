"""Fixtures for the auth unit tests: clients of a minimal app that uses only ``auth``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from auth.testing import AuthKit
from tests.auth.minimal_app import build_app


@pytest.fixture
def make_client(kit: AuthKit, jwks) -> Callable[..., object]:
    """``make_client(**setting_overrides)`` -> a test client of the minimal app."""

    def make(**overrides):
        return build_app(kit.settings(**overrides)).test_client()

    return make


@pytest.fixture
def api(make_client):
    """A test client of the minimal app with default settings."""
    return make_client()


@pytest.fixture
def auth_header(kit: AuthKit) -> Callable[..., dict[str, str]]:
    """``auth_header(**mint_args)`` -> ``{"Authorization": "Bearer <token>"}``."""

    def make(**mint_args):
        return {"Authorization": f"Bearer {kit.mint(**mint_args)}"}

    return make
