"""pytest fixtures for suites testing an ``auth``-guarded API.

Enable with ``pytest_plugins = ["auth.pytest_plugin"]`` in your ``conftest.py``;
then ``auth_kit`` is a fresh ``AuthKit`` and ``auth_jwks`` serves its JWKS
through ``responses`` for the duration of the test (yielding the mock, so a
test can count fetches).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from auth.testing import AuthKit


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
