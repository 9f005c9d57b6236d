"""The development issuer's JWKS server: loopback only, IPv4 and IPv6, fetched by the verifier."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests

from auth import AuthSettings, TokenVerifier
from auth.dev_issuer import DevIssuer, DevIssuerError, environment, jwks_url, serve_jwks


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    return DevIssuer.load(tmp_path_factory.mktemp("dev-issuer") / "key.pem")


@pytest.fixture
def serve(issuer: DevIssuer) -> Iterator[object]:
    """``serve(host)`` -> a running JWKS server, shut down after the test."""
    servers = []

    def start(host: str):
        server = serve_jwks(issuer, host=host)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("host", "url_prefix"),
    [
        ("127.0.0.1", "http://127.0.0.1:"),
        pytest.param("::1", "http://[::1]:", id="ipv6"),
        pytest.param("[::1]", "http://[::1]:", id="ipv6-bracketed"),
    ],
)
def test_dev_issuer_jwks_served_and_verified_on_loopback(issuer, serve, host, url_prefix):
    if ":" in host and not has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    server = serve(host)
    url = jwks_url(server)
    assert url.startswith(url_prefix) and url.endswith("/.well-known/jwks.json")
    resp = requests.get(url, timeout=5)
    assert (resp.status_code, resp.json()) == (200, issuer.jwks())
    settings = AuthSettings.from_env(environment(server, {}))
    assert TokenVerifier(settings).verify(issuer.mint(sub="alice"))["sub"] == "alice"


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "::", "[::]", "192.0.2.10", "example.com", ""],  # noqa: S104
)
def test_dev_issuer_jwks_refuses_non_loopback_hosts(issuer, host):
    with pytest.raises(DevIssuerError, match="loopback only"):
        serve_jwks(issuer, host=host)
