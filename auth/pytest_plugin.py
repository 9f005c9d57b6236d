"""pytest fixtures for suites testing an ``auth``-guarded API (SPEC §7).

Enable with ``pytest_plugins = ["auth.pytest_plugin"]`` in your ``conftest.py``;
then ``auth_kit`` is a fresh ``AuthKit`` and ``auth_jwks`` serves its JWKS
through ``responses`` for the duration of the test (yielding the mock, so a
test can count fetches). For an API running in another process,
``auth_jwks_server`` serves the same key set over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from auth.testing import AuthKit, JWKSServer


@pytest.fixture
def auth_kit() -> AuthKit:
    """A fake issuer: RSA key, JWKS and token minting."""
    return AuthKit()


@pytest.fixture
def auth_jwks(auth_kit: AuthKit) -> Iterator[responses.RequestsMock]:
    """``auth_kit``'s JWKS served through ``responses``; other HTTP calls fail."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        auth_kit.publish(rsps)
        yield rsps


@pytest.fixture
def auth_jwks_server(auth_kit: AuthKit) -> Iterator[JWKSServer]:
    """``auth_kit``'s JWKS on a loopback HTTP server, rotations included.

    Point the API under test at it with ``auth_kit.env(AUTH0_JWKS_URL=auth_jwks_server.url)``.
    """
    with JWKSServer(auth_kit.jwks) as server:
        yield server
