"""DPoP settings: defaults, and one clear ``ConfigError`` line per bad variable (SPEC §2)."""

from __future__ import annotations

import logging

import pytest

from auth.dpop_settings import DPoPSettings
from auth.settings import AuthSettings, ConfigError

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
    ("base_url", "normal"),
    [
        ("https://api.example.com", "https://api.example.com"),
        ("https://api.example.com/", "https://api.example.com"),
        ("https://example.com/api", "https://example.com/api"),
        ("https://api.example.com:8443", "https://api.example.com:8443"),
        ("http://localhost:5000", "http://localhost:5000"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://[::1]:5000", "http://[::1]:5000"),
        # RFC 3986 §6.2.2-§6.2.3: one spelling for the resource, its metadata URL and htu
        ("HTTPS://API.Example.COM:443/api/", "https://api.example.com/api"),
        ("https://api.example.com:443", "https://api.example.com"),
        ("HTTP://LOCALHOST:80/", "http://localhost"),
        ("https://api.example.com/Api/v1/", "https://api.example.com/Api/v1"),
        ("https://api.example.com/a/./b/../c/", "https://api.example.com/a/c"),
        ("https://api.example.com/%7euser/%2f", "https://api.example.com/~user/%2F"),
    ],
)
def test_accepted_base_urls_are_normalised(base_url, normal):
    assert DPoPSettings.from_env({"API_BASE_URL": base_url}).api_base_url == normal


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


def test_allowed_without_base_url_runs_as_off_with_a_start_up_warning(caplog):
    with caplog.at_level(logging.WARNING):
        settings = DPoPSettings.from_env({})
    assert settings.auth_dpop == "off"
    assert settings.turned_off_from == "allowed"
    assert settings.startup_warning.startswith("API_BASE_URL is not set: DPoP is off")
    assert "\n" not in settings.startup_warning
    # said once by the entry when every setting passed, not while they are read
    assert not caplog.records


def test_off_without_base_url_is_quiet():
    settings = DPoPSettings.from_env({"AUTH_DPOP": "off"})
    assert (settings.auth_dpop, settings.startup_warning) == ("off", None)


def test_base_url_set_is_quiet():
    assert DPoPSettings.from_env(BASE).startup_warning is None


@pytest.mark.parametrize("mode", ["allowed", "required"])
def test_development_server_keeps_the_mode_without_base_url(mode):
    settings = DPoPSettings.from_env({"AUTH_DPOP": mode}, is_development=True)
    assert settings.auth_dpop == mode
    assert settings.api_base_url is None


def test_blank_values_mean_unset():
    settings = DPoPSettings.from_env({**BASE, "AUTH_DPOP": " ", "AUTH_DPOP_NONCE_SECRET": ""})
    assert settings.auth_dpop == "allowed"
    assert settings.auth_dpop_nonce_secret is None


def test_development_server_uses_the_request_url_only_without_base_url():
    assert DPoPSettings.from_env({}, is_development=True).use_request_url
    assert not DPoPSettings.from_env(BASE, is_development=True).use_request_url
    assert not DPoPSettings.from_env(BASE).use_request_url


@pytest.mark.parametrize(
    ("mode", "schemes"),
    [("allowed", ("Bearer", "DPoP")), ("required", ("DPoP",)), ("off", ("Bearer",))],
)
def test_each_mode_accepts_its_schemes(mode, schemes):
    assert DPoPSettings.from_env({**BASE, "AUTH_DPOP": mode}).schemes == schemes


@pytest.mark.parametrize("mode", ["allowed", "required"])
def test_settings_made_by_hand_refuse_dpop_without_a_url_to_compare_htu_with(mode):
    with pytest.raises(ValueError, match="api_base_url"):
        DPoPSettings(auth_dpop=mode)


def test_settings_made_by_hand_refuse_an_unknown_mode():
    with pytest.raises(ValueError, match="auth_dpop"):
        DPoPSettings(auth_dpop="sometimes", api_base_url="https://api.example.com")


# -- as part of AuthSettings: what every entry validates at start-up ---------------------------

TENANT = {"AUTH0_DOMAIN": "tenant.example.com", "API_AUDIENCE": "https://api.example.com"}


def test_auth_settings_carry_the_dpop_settings():
    env = {**TENANT, **BASE, "AUTH_DPOP": "required", "AUTH_DPOP_ALGORITHMS": "ES256,PS256"}
    dpop = AuthSettings.from_env(env).dpop
    assert (dpop.auth_dpop, dpop.auth_dpop_algorithms) == ("required", ("ES256", "PS256"))
    assert dpop.api_base_url == "https://api.example.com"


def test_auth_settings_made_by_hand_have_dpop_off():
    settings = AuthSettings(
        api_audience="a", issuers=("https://i.example.com/",), jwks_urls={"x": "y"}
    )
    assert settings.dpop.auth_dpop == "off"
    assert settings.dpop.schemes == ("Bearer",)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"AUTH_DPOP": "maybe"}, "AUTH_DPOP"),
        ({"AUTH_DPOP_ALGORITHMS": "HS256"}, "AUTH_DPOP_ALGORITHMS"),
        ({"AUTH_DPOP_MAX_AGE": "3600"}, "AUTH_DPOP_MAX_AGE"),
        ({"AUTH_DPOP_NONCE_SECRET": "short"}, "AUTH_DPOP_NONCE_SECRET"),
        ({"API_BASE_URL": "http://api.example.com"}, "API_BASE_URL"),
        ({"API_BASE_URL": None, "AUTH_DPOP": "required"}, "API_BASE_URL"),
    ],
)
def test_auth_settings_refuse_each_bad_dpop_variable_in_one_line(env, variable):
    full = {k: v for k, v in {**TENANT, **BASE, **env}.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        AuthSettings.from_env(full)
    assert str(caught.value).startswith(f"{variable}: ")
    assert "\n" not in str(caught.value)


def test_auth_settings_production_without_base_url_run_dpop_off_with_a_warning():
    settings = AuthSettings.from_env(TENANT)
    assert settings.dpop.auth_dpop == "off"
    assert "API_BASE_URL" in settings.dpop.startup_warning


def test_auth_settings_development_without_base_url_keeps_dpop():
    settings = AuthSettings.from_env(TENANT, is_development=True)
    assert (settings.dpop.auth_dpop, settings.dpop.use_request_url) == ("allowed", True)
    assert settings.dpop.startup_warning is None
