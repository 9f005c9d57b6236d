"""The test kit users import (SPEC §7): keys, JWKS, env, and minting good and broken tokens."""

from __future__ import annotations

import base64
import json

import pytest
import responses
from jose import jwt

from auth import AuthSettings
from auth.errors import InvalidTokenError
from auth.testing import DEFAULT_AUDIENCE, DEFAULT_ISSUER, OMIT, AuthKit
from auth.verify import TokenVerifier


def decode(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_kit_defaults():
    kit = AuthKit()
    assert (kit.issuer, kit.audience) == (DEFAULT_ISSUER, DEFAULT_AUDIENCE)
    assert kit.jwks_url == "https://cashman-test.example.com/.well-known/jwks.json"
    assert kit.env() == {"AUTH0_ISSUER": DEFAULT_ISSUER, "API_AUDIENCE": DEFAULT_AUDIENCE}
    assert AuthSettings.from_env(kit.env()).issuers == (DEFAULT_ISSUER,)


def test_kit_jwks_is_public_only():
    (jwk,) = AuthKit().jwks()["keys"]
    assert set(jwk) == {"kid", "use", "kty", "n", "e", "alg"}
    assert jwk["kid"] == "test-key-1"


def test_kit_shares_one_key_per_process_unless_fresh():
    assert AuthKit().key is AuthKit().key
    assert AuthKit(fresh_key=True).key is not AuthKit().key
    kit = AuthKit()
    assert kit.other_key() is not kit.key


def test_kit_mint_defaults_and_overrides():
    kit = AuthKit()
    token = kit.mint(
        sub="bob",
        scopes=["a", "b"],
        permissions=["c"],
        claims={"extra": 1, "jti": OMIT},
        headers={"typ": "at+jwt"},
        expires_in=60,
    )
    header, payload = (decode(p) for p in token.split(".")[:2])
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": "test-key-1"}
    assert payload["sub"] == "bob" and payload["scope"] == "a b" and payload["permissions"] == ["c"]
    assert payload["extra"] == 1 and "jti" not in payload
    assert payload["exp"] - payload["iat"] == 60


def test_kit_custom_jwks_url_in_env():
    kit = AuthKit(jwks_url="https://keys.example.com/jwks")
    assert kit.env()["AUTH0_JWKS_URL"] == "https://keys.example.com/jwks"


def test_kit_publish_serves_current_keys(kit, jwks):
    verifier = TokenVerifier(kit.settings(jwks_min_refresh_interval=0))
    assert verifier.verify(kit.mint())["sub"] == "user-1"
    new_kid = kit.rotate()
    assert verifier.verify(kit.mint())["sub"] == "user-1"
    assert new_kid in {k["kid"] for k in kit.jwks()["keys"]}


def test_kit_refuses_to_publish_a_kid_twice_unless_told(kit):
    # a duplicate kid makes the API refuse every token naming it: silent, it looked like
    # a verifier bug in the user's suite
    with pytest.raises(ValueError, match="already published"):
        kit.rotate("test-key-1")
    with pytest.raises(ValueError, match="already published"):
        kit.add_key("test-key-1")
    assert [k["kid"] for k in kit.jwks()["keys"]] == ["test-key-1"]
    kit.add_key("test-key-1", kit.other_key(), duplicate_kid=True)
    assert [k["kid"] for k in kit.jwks()["keys"]] == ["test-key-1", "test-key-1"]


def test_kit_remove_key(kit, jwks):
    kit.add_key("second")
    kit.remove_key("test-key-1")
    assert [k["kid"] for k in kit.jwks()["keys"]] == ["second"]
    with pytest.raises(InvalidTokenError):
        TokenVerifier(kit.settings()).verify(kit.mint(kid="test-key-1", key=kit.other_key()))


def test_kit_mint_raw_accepts_any_json_or_bytes():
    kit = AuthKit()
    token = kit.mint_raw([1, 2], "not json", signature=b"sig")
    header, payload, signature = token.split(".")
    assert decode(header) == [1, 2]
    assert base64.urlsafe_b64decode(payload + "==") == b"not json"
    assert base64.urlsafe_b64decode(signature + "=") == b"sig"


def test_kit_mint_raw_unsigned_alg_none():
    token = AuthKit().mint_raw({"alg": "none"}, {"sub": "x"})
    assert token.endswith(".")


def test_kit_settings_overrides():
    assert AuthKit().settings(auth_leeway=0).auth_leeway == 0


def test_plugin_fixtures(auth_kit, auth_jwks):
    assert isinstance(auth_jwks, responses.RequestsMock)
    assert TokenVerifier(auth_kit.settings()).verify(auth_kit.mint())["sub"] == "user-1"


def test_kit_env_overrides():
    env = AuthKit().env(JWKS_MIN_REFRESH_INTERVAL="0", AUTH_LEEWAY="5")
    assert (env["JWKS_MIN_REFRESH_INTERVAL"], env["AUTH_LEEWAY"]) == ("0", "5")
    assert env["AUTH0_ISSUER"] == DEFAULT_ISSUER


@pytest.mark.parametrize(
    ("overrides", "status_after_rotation"),
    [
        ({"JWKS_MIN_REFRESH_INTERVAL": "0"}, 200),  # the documented way: seen at once
        ({}, 401),  # default 30 s: the app may not refetch yet, by design
    ],
)
def test_kit_rotation_through_app(kit, jwks, database_url, overrides, status_after_rotation):
    from cashman import create_app
    from cashman.config import Settings

    app = create_app(Settings.from_env({**kit.env(**overrides), "DATABASE_URL": database_url}))
    try:
        client = app.test_client()
        ping = "/secured/ping"
        assert (
            client.get(ping, headers={"Authorization": f"Bearer {kit.mint()}"}).status_code == 200
        )
        kit.rotate(keep_old=False)
        resp = client.get(ping, headers={"Authorization": f"Bearer {kit.mint()}"})
        assert resp.status_code == status_after_rotation
    finally:
        app.extensions["cashman.db"].dispose()


def test_kit_reads_one_string_of_scopes_as_names_not_characters(kit):
    token = kit.mint(scopes="read:transactions write:transactions", permissions="a b")
    claims = jwt.get_unverified_claims(token)
    assert claims["scope"] == "read:transactions write:transactions"
    assert claims["permissions"] == ["a", "b"]


def test_kit_says_which_key_an_algorithm_needs(kit):
    with pytest.raises(TypeError, match="ES256 signs with an EC private key"):
        kit.mint(alg="ES256")  # the kit's key is RSA
