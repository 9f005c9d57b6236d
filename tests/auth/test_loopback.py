"""``auth.is_loopback``: SPEC §2's three loopback hosts, one answer for every checker.

Settings (plain ``http`` issuer and JWKS URLs), the development issuer's bind
address and the kit's JWKS server all ask the same function; before, settings
refused ``127.0.0.2`` while the development issuer bound to it.
"""

from __future__ import annotations

import pytest

from auth import AuthSettings, ConfigError, is_loopback
from auth.dev_issuer import DevIssuerError, require_loopback
from auth.jwks_server import JWKSServer
from auth.loopback import names_loopback

LOOPBACK = ["localhost", "LocalHost", "127.0.0.1", "::1", "[::1]", "0:0:0:0:0:0:0:1", "0::01"]
NOT_LOOPBACK = [
    "127.0.0.2",  # loopback to the kernel, not one of the SPEC's three hosts
    "127.1.2.3",
    "0.0.0.0",  # noqa: S104
    "::",
    "[::]",
    "::ffff:127.0.0.1",
    "::1%lo",
    "localhost.",
    "localhost.example.com",
    "10.0.0.1",
    "example.com",
    "",
    "[",
]


@pytest.mark.parametrize("host", LOOPBACK)
def test_is_loopback_the_spec_hosts_in_any_spelling(host):
    assert is_loopback(host) is True


@pytest.mark.parametrize("host", NOT_LOOPBACK)
def test_is_loopback_nothing_else(host):
    assert is_loopback(host) is False


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@pytest.mark.parametrize("host", LOOPBACK)
def test_plain_http_issuer_allowed_on_loopback(host):
    issuer = f"http://{url_host(host)}:8080/"
    env = {"AUTH0_ISSUER": issuer, "API_AUDIENCE": "https://api.example"}
    assert AuthSettings.from_env(env).issuers == (issuer,)


@pytest.mark.parametrize("host", ["127.0.0.2", "127.1.2.3", "0.0.0.0", "::ffff:127.0.0.1"])  # noqa: S104
def test_plain_http_issuer_refused_elsewhere(host):
    env = {"AUTH0_ISSUER": f"http://{url_host(host)}:8080/", "API_AUDIENCE": "a"}
    with pytest.raises(ConfigError) as caught:
        AuthSettings.from_env(env)
    assert caught.value.variable == "AUTH0_ISSUER"


@pytest.mark.parametrize("host", ["127.0.0.2", "127.1.2.3", "::ffff:127.0.0.1", "0.0.0.0"])  # noqa: S104
def test_dev_issuer_and_jwks_server_refuse_what_settings_refuse(host):
    with pytest.raises(DevIssuerError, match="loopback only"):
        require_loopback(host)
    with pytest.raises(ValueError, match="loopback only"):
        JWKSServer({"keys": []}, host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST"])
def test_dev_issuer_accepts_what_settings_accept(host):
    require_loopback(host)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("localhost", True),
        ("LocalHost:5000", True),
        ("127.0.0.1:8080", True),
        ("[::1]", True),
        ("[::1]:5000", True),
        ("[0:0:0:0:0:0:0:1]:5000", True),
        (" 127.0.0.1:5000 ", True),  # RFC 9110 §5.5: optional whitespace around the value
        ("evil.example", False),
        ("localhost.evil.example:5000", False),
        ("127.0.0.1.nip.io:5000", False),
        ("127.0.0.2:5000", False),  # loopback to the kernel, not to the SPEC
        ("::1", False),  # an IPv6 literal in Host is bracketed
        ("[::1]x", False),
        ("localhost:50a0", False),
        ("localhost:99999", False),
        ("localhost:0", False),
        ("localhost:", True),  # an empty port is the default one (RFC 3986 §3.2.3)
        # RFC 6761 §6.3: names under localhost. never reach DNS, so none can be rebound
        ("app.localhost:5000", True),
        ("A.B.LocalHost", True),
        ("localhost.", False),
        ("-x.localhost", False),
        ("evil.example.localhost.evil.example", False),
        ("x..localhost", False),
        ("", False),
    ],
)
def test_names_loopback_reads_a_host_field(field, expected):
    assert names_loopback(field) is expected
