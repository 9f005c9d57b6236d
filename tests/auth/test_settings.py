"""``AuthSettings.from_env``: SPEC §2 validation, one clear line per bad variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auth import AuthSettings, ConfigError
from auth.settings import check_jose_backend

BASE = {"AUTH0_ISSUER": "https://tenant.example.com/", "API_AUDIENCE": "https://api.example"}


def settings(**env: str) -> AuthSettings:
    return AuthSettings.from_env({**BASE, **env})


def test_settings_defaults_match_spec():
    s = settings()
    assert s.issuers == ("https://tenant.example.com/",)
    assert s.jwks_urls == {
        "https://tenant.example.com/": "https://tenant.example.com/.well-known/jwks.json"
    }
    assert (s.auth_algorithms, s.auth_leeway, s.auth_strict_rfc9068) == (("RS256",), 30, False)
    assert (s.jwks_cache_ttl, s.jwks_min_refresh_interval, s.jwks_max_stale) == (600, 30, 86400)
    assert (s.token_cache_size, s.realm, s.owner_includes_issuer) == (4096, "cashman", True)


def test_settings_domain_derives_issuer_and_jwks():
    s = AuthSettings.from_env({"AUTH0_DOMAIN": "example.us.auth0.com", "API_AUDIENCE": "a"})
    assert s.issuers == ("https://example.us.auth0.com/",)
    assert s.jwks_urls["https://example.us.auth0.com/"] == (
        "https://example.us.auth0.com/.well-known/jwks.json"
    )
    assert s.owner_includes_issuer is False


def test_settings_several_domains_are_several_issuers():
    s = AuthSettings.from_env({"AUTH0_DOMAIN": "a.auth0.com, login.b.com", "API_AUDIENCE": "x"})
    assert s.issuers == ("https://a.auth0.com/", "https://login.b.com/")
    assert s.jwks_urls["https://login.b.com/"] == "https://login.b.com/.well-known/jwks.json"


def test_settings_issuer_overrides_domain():
    s = settings(AUTH0_DOMAIN="ignored.auth0.com")
    assert s.issuers == ("https://tenant.example.com/",)
    assert s.owner_includes_issuer is True


def test_settings_jwks_url_override():
    s = settings(AUTH0_JWKS_URL="https://keys.example.com/jwks")
    assert s.jwks_urls == {"https://tenant.example.com/": "https://keys.example.com/jwks"}


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"API_AUDIENCE": ""}, "API_AUDIENCE"),
        ({"API_AUDIENCE": "   "}, "API_AUDIENCE"),
        ({"AUTH0_ISSUER": ""}, "AUTH0_DOMAIN"),
        ({"AUTH0_ISSUER": "http://tenant.example.com/"}, "AUTH0_ISSUER"),
        ({"AUTH0_ISSUER": "ftp://tenant.example.com/"}, "AUTH0_ISSUER"),
        ({"AUTH0_ISSUER": "tenant.example.com"}, "AUTH0_ISSUER"),
        ({"AUTH0_ISSUER": "https://user:pw@tenant.example.com/"}, "AUTH0_ISSUER"),
        ({"AUTH0_ISSUER": "https://tenant.example.com:99999/"}, "AUTH0_ISSUER"),
        ({"AUTH0_ISSUER": "https://a.example.com/, http://b.example.com/"}, "AUTH0_ISSUER"),
        ({"AUTH0_ISSUER": ",,"}, "AUTH0_ISSUER"),
        ({"AUTH0_JWKS_URL": "http://keys.example.com/jwks"}, "AUTH0_JWKS_URL"),
        (
            {
                "AUTH0_ISSUER": "https://a.example.com/,https://b.example.com/",
                "AUTH0_JWKS_URL": "https://a.example.com/jwks",
            },
            "AUTH0_JWKS_URL",
        ),
        ({"AUTH_ALGORITHMS": "none"}, "AUTH_ALGORITHMS"),
        ({"AUTH_ALGORITHMS": "None"}, "AUTH_ALGORITHMS"),
        ({"AUTH_ALGORITHMS": "HS256"}, "AUTH_ALGORITHMS"),
        ({"AUTH_ALGORITHMS": "RS256,HS512"}, "AUTH_ALGORITHMS"),
        ({"AUTH_ALGORITHMS": "RS257"}, "AUTH_ALGORITHMS"),
        ({"AUTH_ALGORITHMS": "EdDSA"}, "AUTH_ALGORITHMS"),
        ({"AUTH_ALGORITHMS": ","}, "AUTH_ALGORITHMS"),
        ({"AUTH_LEEWAY": "-1"}, "AUTH_LEEWAY"),
        ({"AUTH_LEEWAY": "301"}, "AUTH_LEEWAY"),
        ({"AUTH_LEEWAY": "thirty"}, "AUTH_LEEWAY"),
        ({"AUTH_LEEWAY": "nan"}, "AUTH_LEEWAY"),
        ({"AUTH_LEEWAY": "\u0663"}, "AUTH_LEEWAY"),  # ARABIC-INDIC DIGIT THREE
        ({"AUTH_LEEWAY": "1_0"}, "AUTH_LEEWAY"),
        ({"AUTH_LEEWAY": "infinity"}, "AUTH_LEEWAY"),
        ({"JWKS_CACHE_TTL": "\uff16\uff10"}, "JWKS_CACHE_TTL"),  # FULLWIDTH 60
        ({"AUTH_STRICT_RFC9068": "maybe"}, "AUTH_STRICT_RFC9068"),
        ({"JWKS_CACHE_TTL": "0"}, "JWKS_CACHE_TTL"),
        ({"JWKS_CACHE_TTL": "inf"}, "JWKS_CACHE_TTL"),
        ({"JWKS_MIN_REFRESH_INTERVAL": "-5"}, "JWKS_MIN_REFRESH_INTERVAL"),
        ({"JWKS_MAX_STALE": "1e99"}, "JWKS_MAX_STALE"),
        ({"AUTH_TOKEN_CACHE_SIZE": "1.5"}, "AUTH_TOKEN_CACHE_SIZE"),
        ({"AUTH_TOKEN_CACHE_SIZE": "-1"}, "AUTH_TOKEN_CACHE_SIZE"),
        # an environment byte that is not UTF-8 reaches Python as a lone surrogate (PEP 383)
        ({"API_AUDIENCE": "https://api.example/\udcff"}, "API_AUDIENCE"),
    ],
)
def test_settings_bad_variable_names_it_in_one_line(env, variable):
    with pytest.raises(ConfigError) as caught:
        settings(**env)
    message = str(caught.value)
    assert caught.value.variable == variable
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message
    # a value that cannot be printed (an undecodable byte) is not quoted
    assert not any("\ud800" <= c <= "\udfff" for c in message)


@pytest.mark.parametrize(
    ("env", "bounds"),
    [
        ({"JWKS_MAX_STALE": "-1"}, "between 0 and 2592000"),
        ({"AUTH_TOKEN_CACHE_SIZE": "1.5"}, "between 0 and 10000000"),
        ({"AUTH_LEEWAY": "900"}, "between 0 and 300"),
    ],
)
def test_a_range_is_written_as_people_write_numbers(env, bounds):
    # ":g" wrote "2.592e+06" and "1e+07"
    with pytest.raises(ConfigError, match=bounds):
        settings(**env)


def test_settings_missing_audience_message():
    with pytest.raises(ConfigError, match=r"^API_AUDIENCE: is required"):
        AuthSettings.from_env({"AUTH0_DOMAIN": "t.auth0.com"})


def test_settings_missing_domain_and_issuer():
    with pytest.raises(ConfigError) as caught:
        AuthSettings.from_env({"API_AUDIENCE": "a"})
    assert "AUTH0_DOMAIN" in str(caught.value) and "AUTH0_ISSUER" in str(caught.value)


@pytest.mark.parametrize(
    ("domain", "issuer"),
    [
        ("Example.US.auth0.com", "https://example.us.auth0.com/"),
        ("TENANT.AUTH0.COM", "https://tenant.auth0.com/"),
        ("https://tenant.auth0.com/", "https://tenant.auth0.com/"),
        ("https://tenant.auth0.com", "https://tenant.auth0.com/"),
        ("HTTPS://Tenant.Auth0.com/", "https://tenant.auth0.com/"),
        ("tenant.auth0.com/", "https://tenant.auth0.com/"),
        ("login.example.com:8443", "https://login.example.com:8443/"),
    ],
)
def test_settings_domain_is_normalised_to_auth0_iss(domain, issuer):
    s = AuthSettings.from_env({"AUTH0_DOMAIN": domain, "API_AUDIENCE": "a"})
    assert s.issuers == (issuer,)
    assert s.jwks_urls == {issuer: issuer + ".well-known/jwks.json"}


def test_settings_domains_differing_only_in_case_or_scheme_are_one_issuer():
    s = AuthSettings.from_env(
        {"AUTH0_DOMAIN": "t.auth0.com, T.Auth0.com, https://t.auth0.com/", "API_AUDIENCE": "a"}
    )
    assert s.issuers == ("https://t.auth0.com/",)


@pytest.mark.parametrize(
    "domain",
    [
        "http://t.auth0.com/",
        "http://localhost",
        "ftp://t.auth0.com",
        "https://t.auth0.com/path",
        "https://t.auth0.com/path/",
        "t.auth0.com/path",
        "https://t.auth0.com/?q=1",
        "t.auth0.com?q=1",
        "https://t.auth0.com/#frag",
        "https://user@t.auth0.com/",
        "https://t.auth0.com//",
        "https://",
        "//t.auth0.com",
        "t.auth0.com, http://b.example.com",
        # credentials, a port that is none, labels that are none
        "user:s3cr3tpw@t.auth0.com",
        "user@t.auth0.com",
        "t.auth0.com:notaport",
        "t.auth0.com:99999",
        "t.auth0.com:0",
        "t.auth0.com:",
        "a..b",
        "-a.com",
        "a-.com",
        "t.auth0.com.",
        "x" * 64 + ".com",
        "t_a.auth0.com",
        "tënant.auth0.com",
    ],
)
def test_settings_domain_that_is_not_a_host_is_refused(domain):
    with pytest.raises(ConfigError, match=r"^AUTH0_DOMAIN: [^\n]*$") as refused:
        AuthSettings.from_env({"AUTH0_DOMAIN": domain, "API_AUDIENCE": "a"})
    assert "s3cr3tpw" not in str(refused.value)


@pytest.mark.parametrize(
    "issuer",
    ["http://localhost:8000/", "http://127.0.0.1:9999/", "http://[::1]:8080/", "http://LOCALHOST/"],
)
def test_settings_plain_http_allowed_for_loopback(issuer):
    assert settings(AUTH0_ISSUER=issuer).issuers == (issuer,)


def test_settings_plain_http_jwks_allowed_for_loopback():
    s = settings(AUTH0_JWKS_URL="http://127.0.0.1:8080/jwks.json")
    assert s.jwks_urls["https://tenant.example.com/"] == "http://127.0.0.1:8080/jwks.json"


@pytest.mark.parametrize(
    ("issuer", "reasons"),
    [
        ("https://tenant.us.auth0.com", ["trailing"]),
        ("https://login.example.com", ["trailing"]),
        ("https://tenant.us.auth0.com/", []),
        ("https://idp.example.com/realms/main", []),
        # `iss` is compared exactly, and Auth0 writes it in lower case, without a port
        ("HTTPS://tenant.us.auth0.com/", ["upper-case"]),
        ("https://Tenant.us.auth0.com/", ["upper-case"]),
        ("https://idp.example.com/Realms/Main", []),  # a path keeps its case
        ("https://tenant.us.auth0.com:443/", ["default port"]),
        ("https://idp.example.com:8443/", []),
        ("http://127.0.0.1:80/", ["default port"]),
        # every reason at once, not one per restart
        ("https://TENANT.auth0.com:443", ["trailing", "upper-case", "default port"]),
    ],
)
def test_settings_warns_on_an_issuer_its_tokens_will_not_match(issuer, reasons):
    warnings = [w for w in settings(AUTH0_ISSUER=issuer).startup_warnings if w.startswith("issuer")]
    assert len(warnings) == bool(reasons)
    for reason in reasons:
        assert reason in warnings[0] and issuer in warnings[0] and "\n" not in warnings[0]


def test_settings_several_issuers_keep_order_and_jwks():
    s = settings(AUTH0_ISSUER="https://a.example.com/, https://b.example.com/")
    assert s.issuers == ("https://a.example.com/", "https://b.example.com/")
    assert s.jwks_urls["https://b.example.com/"] == "https://b.example.com/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("RS256", ("RS256",)),
        ("rs256, ES256", ("RS256", "ES256")),
        ("RS256,PS256,RS256", ("RS256", "PS256")),
        (
            "RS384,RS512,PS384,PS512,ES384,ES512",
            ("RS384", "RS512", "PS384", "PS512", "ES384", "ES512"),
        ),
    ],
)
def test_settings_asymmetric_algorithms_accepted(value, expected):
    assert settings(AUTH_ALGORITHMS=value).auth_algorithms == expected


@pytest.mark.parametrize(
    ("variable", "value", "attribute", "expected"),
    [
        ("AUTH_LEEWAY", "0", "auth_leeway", 0),
        ("AUTH_LEEWAY", "300", "auth_leeway", 300),
        ("AUTH_STRICT_RFC9068", "true", "auth_strict_rfc9068", True),
        ("AUTH_STRICT_RFC9068", "0", "auth_strict_rfc9068", False),
        ("JWKS_CACHE_TTL", "60", "jwks_cache_ttl", 60),
        ("JWKS_MIN_REFRESH_INTERVAL", "0", "jwks_min_refresh_interval", 0),
        ("JWKS_MAX_STALE", "3600", "jwks_max_stale", 3600),
        ("AUTH_TOKEN_CACHE_SIZE", "0", "token_cache_size", 0),
        (
            "AUTH0_JWKS_URL",
            "",
            "jwks_urls",
            {"https://tenant.example.com/": "https://tenant.example.com/.well-known/jwks.json"},
        ),
    ],
)
def test_settings_values_parsed(variable, value, attribute, expected):
    assert getattr(settings(**{variable: value}), attribute) == expected


def test_settings_are_frozen():
    s = settings()
    with pytest.raises(AttributeError):
        s.api_audience = "other"  # type: ignore[misc]


def test_jose_backend_is_cryptography():
    check_jose_backend()


def test_jose_backend_fallback_is_refused(monkeypatch):
    from jose import backends

    monkeypatch.setattr(backends, "RSAKey", object)
    with pytest.raises(ConfigError, match=r"^python-jose: "):
        settings()


def test_jose_backend_that_cannot_be_imported_is_a_config_error(monkeypatch):
    # None in sys.modules: the next `import` of that module raises ImportError.
    monkeypatch.setitem(sys.modules, "jose.backends.cryptography_backend", None)
    with pytest.raises(ConfigError, match=r"^python-jose: [^\n]*$"):
        check_jose_backend()


@pytest.mark.parametrize("module", ["cryptography", "jose.backends.cryptography_backend"])
def test_package_without_cryptography_imports_and_refuses_in_one_line(module):
    # A fresh interpreter: the package itself must import, and start-up must name the problem.
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "import auth, auth.dev_issuer\n"
        "try:\n"
        f"    auth.AuthSettings.from_env({BASE!r})\n"
        "except auth.ConfigError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("python-jose: ")
    assert result.stdout.count("\n") == 1


@pytest.mark.parametrize(
    ("value", "warned"), [("0", True), ("0.5", True), ("1", False), ("30", False)]
)
def test_settings_min_refresh_interval_below_one_second_warns(value, warned):
    built = settings(JWKS_MIN_REFRESH_INTERVAL=value)
    assert built.jwks_min_refresh_interval == float(value)
    messages = [m for m in built.startup_warnings if "JWKS_MIN_REFRESH_INTERVAL" in m]
    assert bool(messages) is warned
    assert all("use only in tests" in m for m in messages)
