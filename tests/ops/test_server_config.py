"""``BIND``, ``WEB_CONCURRENCY``, ``WEB_THREADS`` as both production entries read them (SPEC §2)."""

from __future__ import annotations

import pytest

from auth import ConfigError
from cashman.server_config import Bind, ServerSettings, parse_bind

ANY = "0.0.0.0"  # noqa: S104 - the documented default address, not a socket bound here


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8000", Bind("127.0.0.1", 8000)),
        ("0.0.0.0:1", Bind(ANY, 1)),
        (" 10.1.2.3:65535 ", Bind("10.1.2.3", 65535)),
        ("[::1]:8000", Bind("::1", 8000)),
        ("[::]:80", Bind("::", 80)),
        ("[0:0:0:0:0:0:0:1]:80", Bind("::1", 80)),
        ("localhost:8000", Bind("127.0.0.1", 8000)),
    ],
)
def test_bind_is_host_and_port(value, expected):
    assert parse_bind("BIND", value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "127.0.0.1",
        ":8000",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:80a",
        "::1:8000",
        "[::1:8000",
        "[not-v6]:8000",
        "unix:/run/cashman.sock",
        "tcp://127.0.0.1:8000",
        "127.0.0.1:8000,127.0.0.2:8000",
        "host name:8000",
        "no-such-host.invalid:8000",
    ],
)
def test_malformed_bind_names_the_variable(value):
    with pytest.raises(ConfigError) as caught:
        parse_bind("BIND", value)
    assert str(caught.value).startswith("BIND: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("bind", "text"),
    [(Bind("127.0.0.1", 80), "127.0.0.1:80"), (Bind("::1", 80), "[::1]:80")],
)
def test_bind_prints_as_gunicorn_takes_it(bind, text):
    assert str(bind) == text


def test_defaults_are_every_interface_port_5000_four_threads():
    # SPEC §2: BIND defaults to 0.0.0.0:$PORT, and PORT to 5000
    settings = ServerSettings.from_env({}, default_workers=lambda: 3)
    assert settings == ServerSettings(Bind(ANY, 5000), workers=3, threads=4)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PORT": "9000"}, (ANY, 9000, 3, 4)),
        ({"PORT": "9000", "BIND": "127.0.0.1:7000"}, ("127.0.0.1", 7000, 3, 4)),
        ({"BIND": " "}, (ANY, 5000, 3, 4)),
        ({"WEB_CONCURRENCY": "5", "WEB_THREADS": "8"}, (ANY, 5000, 5, 8)),
        ({"OLD_BIND": "127.0.0.1:7001", "BIND": "127.0.0.1:7000"}, ("127.0.0.1", 7001, 3, 4)),
        ({"OLD_WORKERS": "2", "WEB_CONCURRENCY": "5"}, (ANY, 5000, 2, 4)),
        ({"OLD_WORKERS": "", "WEB_CONCURRENCY": "5"}, (ANY, 5000, 5, 4)),
    ],
)
def test_environment_and_aliases(env, expected):
    aliases = {"BIND": "OLD_BIND", "WEB_CONCURRENCY": "OLD_WORKERS"}
    settings = ServerSettings.from_env(env, default_workers=lambda: 3, aliases=aliases)
    assert (settings.bind.host, settings.bind.port, settings.workers, settings.threads) == expected


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "0"}, "PORT"),
        ({"PORT": "http"}, "PORT"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY"),
        ({"WEB_CONCURRENCY": "65"}, "WEB_CONCURRENCY"),
        ({"WEB_CONCURRENCY": "-1"}, "WEB_CONCURRENCY"),
        ({"WEB_THREADS": "²"}, "WEB_THREADS"),
        ({"OLD_BIND": "nowhere", "BIND": "127.0.0.1:7000"}, "OLD_BIND"),
    ],
)
def test_bad_values_name_their_variable(env, variable):
    with pytest.raises(ConfigError) as caught:
        ServerSettings.from_env(env, aliases={"BIND": "OLD_BIND"})
    assert caught.value.variable == variable
