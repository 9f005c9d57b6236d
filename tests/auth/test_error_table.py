"""Every row of SPEC §3's error table, through a real Flask app: status, code, headers."""

from __future__ import annotations

import json

import pytest
import responses

from auth.testing import AuthKit
from tests.auth.minimal_app import READ, WRITE, build_app

INVALID_TOKEN = (
    'Bearer realm="cashman", error="invalid_token", error_description="The access token is invalid"'
)
EXPIRED = (
    'Bearer realm="cashman", error="invalid_token", error_description="The access token expired"'
)
INVALID_CLAIMS = (
    'Bearer realm="cashman", error="invalid_token", '
    'error_description="The access token claims are invalid"'
)
INVALID_REQUEST = (
    'Bearer realm="cashman", error="invalid_request", '
    'error_description="The Authorization header is malformed"'
)


@pytest.mark.parametrize(
    ("header", "status", "code", "challenge"),
    [
        (None, 401, "authorization_header_missing", 'Bearer realm="cashman"'),
        ("Basic dXNlcjpwYXNz", 401, "authorization_header_missing", 'Bearer realm="cashman"'),
        ("Bearer", 400, "invalid_header", INVALID_REQUEST),
        ("Bearer a b", 400, "invalid_header", INVALID_REQUEST),
        ("Bearer a$b", 400, "invalid_header", INVALID_REQUEST),
        ("Bearer " + "a" * 8193, 400, "invalid_header", INVALID_REQUEST),
        ("Bearer not-a-jws", 401, "invalid_token", INVALID_TOKEN),
    ],
)
def test_error_table_header_rows(api, header, status, code, challenge):
    resp = api.get("/secured", headers={"Authorization": header} if header else {})
    assert (resp.status_code, resp.json["code"]) == (status, code)
    assert resp.headers["WWW-Authenticate"] == challenge
    assert resp.headers["Cache-Control"] == "no-store"
    assert isinstance(resp.json["description"], str) and resp.json["description"]


@pytest.mark.parametrize(
    ("mint_args", "code", "challenge"),
    [
        ({"key": "other"}, "invalid_token", INVALID_TOKEN),
        ({"kid": "unknown-kid"}, "invalid_token", INVALID_TOKEN),
        ({"headers": {"typ": "dpop+jwt"}}, "invalid_token", INVALID_TOKEN),
        ({"headers": {"crit": ["exp"]}}, "invalid_token", INVALID_TOKEN),
        ({"headers": {"cty": "JWT"}}, "invalid_token", INVALID_TOKEN),
        ({"claims": {"cnf": {"jkt": "abc"}}}, "invalid_token", INVALID_TOKEN),
        ({"expires_in": -3600}, "token_expired", EXPIRED),
        ({"claims": {"iss": "https://evil.example.com/"}}, "invalid_claims", INVALID_CLAIMS),
        ({"claims": {"aud": "https://other.api"}}, "invalid_claims", INVALID_CLAIMS),
        ({"claims": {"nbf": 4_000_000_000}}, "invalid_claims", INVALID_CLAIMS),
        ({"claims": {"exp": "tomorrow"}}, "invalid_claims", INVALID_CLAIMS),
    ],
)
def test_error_table_token_rows(api, kit, mint_args, code, challenge):
    if mint_args.get("key") == "other":
        mint_args = {**mint_args, "key": kit.other_key()}
    token = kit.mint(**mint_args)
    resp = api.get("/secured", headers={"Authorization": f"Bearer {token}"})
    assert (resp.status_code, resp.json["code"]) == (401, code)
    assert resp.headers["WWW-Authenticate"] == challenge
    assert resp.headers["Cache-Control"] == "no-store"


def test_error_table_expired_description_says_expired(api, auth_header):
    resp = api.get("/secured", headers=auth_header(expires_in=-3600))
    assert "expired" in resp.json["description"]


def test_error_table_missing_scope_is_403_naming_the_scope(api, auth_header):
    resp = api.get("/things", headers=auth_header(scopes=[WRITE]))
    assert (resp.status_code, resp.json["code"]) == (403, "insufficient_scope")
    assert resp.headers["WWW-Authenticate"] == (
        'Bearer realm="cashman", error="insufficient_scope", scope="read:transactions"'
    )
    assert resp.headers["Cache-Control"] == "no-store"


def test_error_table_jwks_unavailable_is_503_with_retry_after():
    kit = AuthKit()
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, status=500)
        api = build_app(kit.settings()).test_client()
        resp = api.get("/secured", headers={"Authorization": f"Bearer {kit.mint()}"})
    assert (resp.status_code, resp.json["code"]) == (503, "jwks_unavailable")
    assert "WWW-Authenticate" not in resp.headers
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("path", "method", "scopes", "status"),
    [
        ("/secured", "get", [], 200),
        ("/things", "get", [READ], 200),
        ("/things", "post", [WRITE], 201),
    ],
)
def test_error_table_valid_token_passes(api, auth_header, path, method, scopes, status):
    resp = getattr(api, method)(path, headers=auth_header(scopes=scopes), json={"a": 1})
    assert resp.status_code == status


def test_error_descriptions_never_echo_the_kid(api, auth_header):
    resp = api.get("/secured", headers=auth_header(kid="kid-that-must-not-leak"))
    assert "kid-that-must-not-leak" not in resp.get_data(as_text=True)
    assert "kid-that-must-not-leak" not in str(resp.headers)


def sized_token(kit: AuthKit, length: int) -> str:
    """A valid token of exactly ``length`` characters (padded through a claim and a header)."""
    for extra in range(4):
        for pad in range(5400, 5900):
            token = kit.mint(headers={"x": "y" * extra}, claims={"pad": "p" * pad})
            if len(token) == length:
                return token
    raise AssertionError(f"no token of {length} characters")


@pytest.mark.parametrize(("length", "status"), [(8192, 200), (8193, 400)])
def test_error_table_token_size_limit_is_8_kib(api, kit, length, status):
    token = sized_token(kit, length)
    resp = api.get("/secured", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == status


@pytest.mark.parametrize("digits", [4300, 4301, 5500])
def test_error_table_exp_past_the_interpreter_digit_limit_is_invalid_claims(api, kit, digits):
    # Valid JSON (RFC 8259), validly signed: a malformed time claim, not "not a JWS".
    payload = json.dumps({**kit.claims(), "exp": "EXP"}).replace('"EXP"', "1" * digits)
    header = {"alg": "RS256", "typ": "JWT", "kid": kit.signing_kid}
    token = kit.mint_raw(header, payload.encode(), alg="RS256")
    resp = api.get("/secured", headers={"Authorization": f"Bearer {token}"})
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_claims")
    assert resp.headers["WWW-Authenticate"] == INVALID_CLAIMS
