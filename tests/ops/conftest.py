"""Fixtures shared by the ops tests."""

from __future__ import annotations

import json
import sys

import pytest

from tests.support.live import LiveServer, live_issuer
from tests.support.processes import SERVERS

SCOPES = ["read:transactions", "write:transactions"]


@pytest.fixture
def log_lines(capsys):
    """The request-log lines the test wrote to stderr so far, parsed.

    Reading leaves the captured output in place (written back), so the test can still
    read the whole of stderr itself afterwards.
    """

    def read() -> list[dict]:
        captured = capsys.readouterr()
        sys.stdout.write(captured.out)
        sys.stderr.write(captured.err)
        lines = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("event") == "request"]

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
