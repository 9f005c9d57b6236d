"""DPoP settings: defaults, and one clear ``ConfigError`` line per bad variable (SPEC §2)."""

from __future__ import annotations

import logging

import pytest

from auth.dpop_settings import DPoPSettings
from auth.settings import ConfigError

BASE = {"API_BASE_URL": "https://api.example.com"}


def test_defaults():
    settings = DPoPSettings.from_env(BASE)
    assert settings.auth_dpop == "allowed"
    assert settings.auth_dpop_algorithms == ("ES256",)
    assert settings.auth_dpop_max_age == 300
    assert settings.auth_dpop_nonce_secret is None
    assert settings.api_base_url == "https://api.example.com"
    assert settings.is_enabled


@pytest.mark.parametrize("mode", ["allowed", "required", "off", "REQUIRED", " off "])
def test_modes(mode):
    assert DPoPSettings.from_env({**BASE, "AUTH_DPOP": mode}).auth_dpop == mode.strip().lower()


def test_off_is_not_enabled():
    assert not DPoPSettings.from_env({**BASE, "AUTH_DPOP": "off"}).is_enabled


def test_algorithms_are_parsed_and_upper_cased():
    settings = DPoPSettings.from_env({**BASE, "AUTH_DPOP_ALGORITHMS": "es256, ps256,ES256"})
    assert settings.auth_dpop_algorithms == ("ES256", "PS256")


def test_nonce_secret_is_kept_as_bytes_and_out_of_repr():
    secret = "n" * 32
    settings = DPoPSettings.from_env({**BASE, "AUTH_DPOP_NONCE_SECRET": secret})
    assert settings.auth_dpop_nonce_secret == secret.encode()
    assert secret not in repr(settings)


def test_secret_length_counts_bytes_not_characters():
    secret = "\u00e9" * 16  # 16 characters, 32 UTF-8 bytes
    settings = DPoPSettings.from_env({**BASE, "AUTH_DPOP_NONCE_SECRET": secret})
    assert len(settings.auth_dpop_nonce_secret) == 32


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.example.com",
        "https://api.example.com/",
        "https://example.com/api",
        "https://api.example.com:8443",
        "http://localhost:5000",
        "http://127.0.0.1:5000",
        "http://[::1]:5000",
    ],
)
def test_accepted_base_urls(base_url):
    assert DPoPSettings.from_env({"API_BASE_URL": base_url}).api_base_url == base_url


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"AUTH_DPOP": "sometimes"}, "AUTH_DPOP"),
        ({"AUTH_DPOP_ALGORITHMS": "HS256"}, "AUTH_DPOP_ALGORITHMS"),
        ({"AUTH_DPOP_ALGORITHMS": "none"}, "AUTH_DPOP_ALGORITHMS"),
        ({"AUTH_DPOP_ALGORITHMS": "ES256,XX999"}, "AUTH_DPOP_ALGORITHMS"),
        ({"AUTH_DPOP_ALGORITHMS": " , "}, "AUTH_DPOP_ALGORITHMS"),
        ({"AUTH_DPOP_MAX_AGE": "0"}, "AUTH_DPOP_MAX_AGE"),
        ({"AUTH_DPOP_MAX_AGE": "601"}, "AUTH_DPOP_MAX_AGE"),
        ({"AUTH_DPOP_MAX_AGE": "-5"}, "AUTH_DPOP_MAX_AGE"),
        ({"AUTH_DPOP_MAX_AGE": "nan"}, "AUTH_DPOP_MAX_AGE"),
        ({"AUTH_DPOP_MAX_AGE": "five minutes"}, "AUTH_DPOP_MAX_AGE"),
        ({"AUTH_DPOP_NONCE_SECRET": "s" * 31}, "AUTH_DPOP_NONCE_SECRET"),
        ({"API_BASE_URL": "http://api.example.com"}, "API_BASE_URL"),
        ({"API_BASE_URL": "http://10.0.0.1"}, "API_BASE_URL"),
        ({"API_BASE_URL": "api.example.com"}, "API_BASE_URL"),
        ({"API_BASE_URL": "/api"}, "API_BASE_URL"),
        ({"API_BASE_URL": "ftp://api.example.com"}, "API_BASE_URL"),
        ({"API_BASE_URL": "https://api.example.com/?x=1"}, "API_BASE_URL"),
        ({"API_BASE_URL": "https://api.example.com/#top"}, "API_BASE_URL"),
        ({"API_BASE_URL": "https://user:pw@api.example.com"}, "API_BASE_URL"),
        ({"API_BASE_URL": "https://api.example.com:99999"}, "API_BASE_URL"),
        ({"API_BASE_URL": "https://api.example.com/a b"}, "API_BASE_URL"),
        ({"API_BASE_URL": "https://api.example.com/%zz"}, "API_BASE_URL"),
        ({"API_BASE_URL": "https://b\u00fccher.example"}, "API_BASE_URL"),
    ],
)
def test_bad_variable_is_one_line_naming_it(env, variable):
    with pytest.raises(ConfigError) as caught:
        DPoPSettings.from_env({**BASE, **env})
    assert caught.value.variable == variable
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"{variable}: ")


def test_required_without_base_url_refuses_to_start():
    with pytest.raises(ConfigError) as caught:
        DPoPSettings.from_env({"AUTH_DPOP": "required"})
    assert caught.value.variable == "API_BASE_URL"


def test_allowed_without_base_url_runs_as_off_with_one_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="auth.dpop_settings"):
        settings = DPoPSettings.from_env({})
    assert settings.auth_dpop == "off"
    warnings = [r for r in caplog.records if r.name == "auth.dpop_settings"]
    assert len(warnings) == 1
    assert "API_BASE_URL" in warnings[0].getMessage()


def test_off_without_base_url_is_quiet(caplog):
    with caplog.at_level(logging.WARNING, logger="auth.dpop_settings"):
        assert DPoPSettings.from_env({"AUTH_DPOP": "off"}).auth_dpop == "off"
    assert not caplog.records


@pytest.mark.parametrize("mode", ["allowed", "required"])
def test_development_server_keeps_the_mode_without_base_url(mode):
    settings = DPoPSettings.from_env({"AUTH_DPOP": mode}, is_development=True)
    assert settings.auth_dpop == mode
    assert settings.api_base_url is None


def test_blank_values_mean_unset():
    settings = DPoPSettings.from_env({**BASE, "AUTH_DPOP": " ", "AUTH_DPOP_NONCE_SECRET": ""})
    assert settings.auth_dpop == "allowed"
    assert settings.auth_dpop_nonce_secret is None
