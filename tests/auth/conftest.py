"""Fixtures for the auth unit tests: clients of a minimal app that uses only ``auth``, a
verifier on a fixed clock, tokens minted relative to it, and JWKS caches on a test clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from auth.jwks import JWKSCache
from auth.testing import AuthKit, DPoPKey
from auth.verify import TokenVerifier
from tests.auth.clocks import NOW, Clock
from tests.auth.dpop_case import DPoPCase
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


@pytest.fixture
def verifier(kit: AuthKit, jwks) -> Callable[..., TokenVerifier]:
    """``verifier(**setting_overrides)`` -> a TokenVerifier whose clock is ``NOW``."""

    def make(clock=lambda: NOW, **overrides):
        return TokenVerifier(kit.settings(**overrides), clock=clock)

    return make


@pytest.fixture
def mint_at(kit: AuthKit) -> Callable[..., str]:
    """``mint_at(**mint_args)`` -> a kit token whose ``iat``/``exp`` are relative to ``NOW``."""

    def make(**mint_args):
        claims = {"iat": int(NOW), "exp": int(NOW + 300), **mint_args.pop("claims", {})}
        return kit.mint(claims=claims, **mint_args)

    return make


@pytest.fixture
def clock() -> Clock:
    """A monotonic clock the test moves (``clock.advance(seconds)``)."""
    return Clock()


@pytest.fixture
def cache(kit: AuthKit, clock: Clock) -> Callable[..., JWKSCache]:
    """``cache(**options)`` -> a JWKSCache of the kit's JWKS on the test clock."""

    def make(**options):
        return JWKSCache(kit.jwks_url, **{"clock": clock, **options})

    return make


@pytest.fixture
def case(kit: AuthKit, client_key: DPoPKey) -> DPoPCase:
    """A DPoP request under test: ``client_key``, a token bound to it, a verifier at ``NOW``."""
    return DPoPCase(kit, client_key)
