"""CORS from CORS_ORIGINS only; preflight needs no token; headers a browser must read."""

from __future__ import annotations

import pytest

ALLOWED = "https://app.example.com"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
}


@pytest.fixture
def env(env):
    return {**env, "CORS_ORIGINS": f"{ALLOWED}, https://other.example.com"}


def _lower_set(value):
    return {item.strip().lower() for item in (value or "").split(",")}


@pytest.mark.parametrize("path", ["/incomes", "/expenses/1", "/transactions", "/balance"])
def test_preflight_from_allowed_origin_needs_no_token(client, path):
    resp = client.options(path, headers={"Origin": ALLOWED, **PREFLIGHT})
    assert resp.status_code in (200, 204)
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert _lower_set(resp.headers["Access-Control-Allow-Headers"]) >= {
        "authorization",
        "content-type",
        "idempotency-key",
    }
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in resp.headers
    assert "Origin" in resp.headers.get("Vary", "")


def test_preflight_allows_patch_and_delete(client):
    for method in ("PATCH", "DELETE"):
        resp = client.options(
            "/incomes/1",
            headers={"Origin": ALLOWED, "Access-Control-Request-Method": method},
        )
        assert method in resp.headers["Access-Control-Allow-Methods"]


def test_preflight_from_other_origin_gets_no_cors_headers(client):
    resp = client.options("/incomes", headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "Access-Control-Allow-Headers" not in resp.headers


def test_actual_request_exposes_headers(client, auth, create):
    resp = client.post(
        "/incomes", json={"description": "x", "amount": 1}, headers={**auth, "Origin": ALLOWED}
    )
    assert resp.status_code == 201
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert _lower_set(resp.headers["Access-Control-Expose-Headers"]) >= {
        "location",
        "link",
        "www-authenticate",
    }
    assert "Origin" in resp.headers["Vary"]


def test_401_is_readable_by_the_browser(client):
    resp = client.get("/incomes", headers={"Origin": ALLOWED})
    assert resp.status_code == 401
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "www-authenticate" in _lower_set(resp.headers["Access-Control-Expose-Headers"])
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_actual_request_from_other_origin_has_no_cors_headers(client, auth):
    resp = client.get("/incomes", headers={**auth, "Origin": "https://evil.example"})
    assert resp.status_code == 200
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_origin_match_is_exact(client):
    for origin in (f"{ALLOWED}.evil.example", "http://app.example.com", f"{ALLOWED}:8443"):
        resp = client.options("/incomes", headers={"Origin": origin, **PREFLIGHT})
        assert "Access-Control-Allow-Origin" not in resp.headers


@pytest.mark.parametrize(
    ("allowed", "other"),
    [
        # flask-cors read an origin holding "[" as a regular expression matched at its
        # start: "http://[::1]" let in "http://1.evil.com", and never matched itself
        ("http://[::1]", "http://1.evil.com"),
        ("http://[::1]:3000", "http://1evil.example"),
        ("https://[2001:db8::1]", "https://d.evil.example"),
        ("http://[::1]", "http://[::1]:3000"),
    ],
)
def test_an_ipv6_origin_is_matched_exactly(kit, database_url, jwks, allowed, other):
    from cashman import create_app
    from cashman.config import Settings

    env = {**kit.env(), "DATABASE_URL": database_url, "CORS_ORIGINS": allowed}
    app = create_app(Settings.from_env(env))
    try:
        client = app.test_client()
        resp = client.options("/incomes", headers={"Origin": allowed, **PREFLIGHT})
        assert resp.headers.get("Access-Control-Allow-Origin") == allowed
        for method in ("options", "get"):
            resp = client.open("/ping", method=method, headers={"Origin": other, **PREFLIGHT})
            assert "Access-Control-Allow-Origin" not in resp.headers, (method, other)
    finally:
        app.extensions["cashman.db"].dispose()


@pytest.mark.parametrize(
    ("configured", "sent"),
    [
        # a browser leaves the scheme's default port out of Origin (RFC 6454 §6.2)
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://localhost:80", "http://localhost"),
        # and writes an IPv6 address compressed (WHATWG URL)
        ("http://[0:0:0:0:0:0:0:1]:8080", "http://[::1]:8080"),
        ("https://[2001:DB8:0::1]", "https://[2001:db8::1]"),
        # an IPv4-mapped address, in hex groups as browsers write it
        ("http://[::ffff:192.168.0.1]:3000", "http://[::ffff:c0a8:1]:3000"),
    ],
)
def test_an_origin_configured_in_another_spelling_matches_what_the_browser_sends(
    kit, database_url, jwks, configured, sent
):
    from cashman import create_app
    from cashman.config import Settings

    env = {**kit.env(), "DATABASE_URL": database_url, "CORS_ORIGINS": configured}
    app = create_app(Settings.from_env(env))
    try:
        resp = app.test_client().options("/incomes", headers={"Origin": sent, **PREFLIGHT})
        assert resp.headers.get("Access-Control-Allow-Origin") == sent
    finally:
        app.extensions["cashman.db"].dispose()


@pytest.mark.parametrize("origins", ["", " , "])
def test_no_origins_means_no_cross_origin_access(kit, database_url, jwks, origins):
    from cashman import create_app
    from cashman.config import Settings

    app = create_app(
        Settings.from_env({**kit.env(), "DATABASE_URL": database_url, "CORS_ORIGINS": origins})
    )
    try:
        resp = app.test_client().options("/incomes", headers={"Origin": ALLOWED, **PREFLIGHT})
        assert "Access-Control-Allow-Origin" not in resp.headers
    finally:
        app.extensions["cashman.db"].dispose()


@pytest.mark.parametrize(
    "origins",
    [
        "*",
        " * ",
        f"{ALLOWED},*",
        "https://app.example.com/path",
        "ftp://app.example.com",
        "app.example.com",
        "https://*.example.com",
        # no port and no address a browser could send
        "https://app.example.com:0",
        "https://app.example.com:65536",
        "http://[::1::2]",
        # a browser writes these 127.0.0.1, or refuses them: they would never match
        "http://127.1:3000",
        "http://127.0.0.1.:3000",
        "http://example.0x10",
    ],
)
def test_origins_that_are_not_origins_stop_start_up(kit, origins):
    from auth import ConfigError
    from cashman.config import Settings

    with pytest.raises(ConfigError) as error:
        Settings.from_env({**kit.env(), "CORS_ORIGINS": origins})
    assert error.value.variable == "CORS_ORIGINS"
    assert str(error.value).startswith("CORS_ORIGINS: ")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("origin", [ALLOWED, "https://evil.example"])
@pytest.mark.parametrize("preflight", [True, False])
def test_vary_names_origin_once(client, auth, origin, preflight):
    if preflight:
        resp = client.options("/incomes", headers={"Origin": origin, **PREFLIGHT})
    else:
        resp = client.get("/incomes", headers={**auth, "Origin": origin})
    vary = [
        item.strip().lower() for value in resp.headers.getlist("Vary") for item in value.split(",")
    ]
    assert vary.count("origin") == 1, resp.headers.getlist("Vary")


@pytest.mark.parametrize("path", ["/incomes", "/incomes/1", "/nope", "/incomes/abc/x", "/ping"])
@pytest.mark.parametrize(("origin", "allowed"), [(ALLOWED, True), ("https://evil.example", False)])
def test_preflight_to_any_path_is_204(client, path, origin, allowed):
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    resp = client.options(path, headers=headers)
    assert (resp.status_code, resp.data) == (204, b"")
    assert "Content-Type" not in resp.headers
    assert ("Access-Control-Allow-Origin" in resp.headers) is allowed
    if allowed:
        assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert "authorization" in _lower_set(resp.headers["Access-Control-Allow-Headers"])
        assert "GET" in resp.headers["Access-Control-Allow-Methods"]


def test_actual_request_to_unknown_path_is_a_readable_404(client):
    resp = client.get("/nope", headers={"Origin": ALLOWED})
    assert (resp.status_code, resp.json["code"]) == (404, "not_found")
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_preflight_allows_the_dpop_header(client):
    # RFC 9449 §7.1: a browser sends the proof in the DPoP request header
    headers = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, dpop",
    }
    resp = client.options("/incomes", headers=headers)
    assert resp.status_code == 204
    assert _lower_set(resp.headers["Access-Control-Allow-Headers"]) == {"authorization", "dpop"}


def test_answers_expose_dpop_nonce_and_the_headers_a_client_reads(client):
    resp = client.get("/incomes", headers={"Origin": ALLOWED})
    assert _lower_set(resp.headers["Access-Control-Expose-Headers"]) >= {
        "dpop-nonce",
        "www-authenticate",
        "location",
        "link",
    }


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "what_to_do"),
    [
        # 415 for the media type: Accept names the one taken (RFC 9110 §15.5.16)
        ("POST", "/incomes", {"Content-Type": "text/plain"}, 415, "Accept"),
        # a PATCH refused for its format: Accept-Patch (RFC 5789 §2.2)
        ("PATCH", "/incomes/1", {"Content-Type": "text/plain"}, 415, "Accept-Patch"),
        # a content coding refused: Accept-Encoding (RFC 9110 §12.5.3)
        (
            "POST",
            "/incomes",
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            415,
            "Accept-Encoding",
        ),
        # a method the resource has not: Allow (RFC 9110 §15.5.6)
        ("PUT", "/incomes", {"Content-Type": "application/json"}, 405, "Allow"),
    ],
)
def test_a_refusal_says_what_to_send_in_a_header_the_browser_can_read(
    client, auth, method, path, headers, status, what_to_do
):
    # none of these is CORS-safelisted (Fetch §3.2.4): unexposed, the app sees no header
    resp = client.open(
        path, method=method, data=b"{}", headers={**auth, **headers, "Origin": ALLOWED}
    )
    assert resp.status_code == status
    assert resp.headers[what_to_do]
    exposed = _lower_set(resp.headers["Access-Control-Expose-Headers"])
    assert what_to_do.lower() in exposed
