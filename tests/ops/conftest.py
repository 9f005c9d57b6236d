"""Fixtures shared by the ops tests."""

from __future__ import annotations

import json

import pytest

from tests.support.live import LiveServer, live_issuer
from tests.support.processes import SERVERS

SCOPES = ["read:transactions", "write:transactions"]


@pytest.fixture
def log_lines(caplog):
    """The request-log records of the test, parsed."""
    caplog.set_level("INFO", logger="cashman.request")

    def read() -> list[dict]:
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == "cashman.request"]

    return read


@pytest.fixture(scope="module")
def jwks_issuer():
    """A test-kit issuer whose JWKS is served over HTTP on loopback, for a module's servers."""
    with live_issuer() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def write_token(jwks_issuer) -> str:
    """A token with both scopes, valid for the module's duration."""
    return jwks_issuer.kit.mint(scopes=SCOPES, expires_in=3600)


@pytest.fixture(scope="module", params=SERVERS)
def shared_server(request, jwks_issuer, tmp_path_factory):
    """One running production server of each kind (one worker) for a whole module."""
    tmp = tmp_path_factory.mktemp(request.param)
    env = {**jwks_issuer.env(), "DATABASE_URL": f"sqlite:///{tmp / 'cashman.db'}"}
    with LiveServer(env, tmp / "server.log", workers=1, server=request.param) as server:
        yield server
