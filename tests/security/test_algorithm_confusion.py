"""The python-jose advisory (algorithm confusion without an allow-list) cannot reach Cashman.

python-jose <= 3.5.0 lets a caller that passes no algorithm list be tricked
into HMAC-verifying a token with the RSA public key as the secret. Cashman
always checks ``alg`` against ``AUTH_ALGORITHMS`` first, and start-up refuses
symmetric algorithms and ``none`` in that list (see SECURITY.md).
"""

from __future__ import annotations

import pytest

from auth import AuthSettings, ConfigError
from auth.testing import generate_ec_key

ALL = ["read:transactions", "write:transactions"]


def _confusion_tokens(kit):
    """Every way to sign a token without the private RSA key the JWKS publishes."""
    ec_key = generate_ec_key("ES256")
    header = {"typ": "JWT", "kid": kit.signing_kid}
    claims = kit.claims(scopes=ALL)
    return {
        "hs256 keyed with the public PEM": kit.mint_hs256_with_public_key("pem", scopes=ALL),
        "hs256 keyed with the public JWK": kit.mint_hs256_with_public_key("jwk", scopes=ALL),
        "alg none, no signature": kit.mint_raw({**header, "alg": "none"}, claims, b""),
        "alg None, no signature": kit.mint_raw({**header, "alg": "None"}, claims, b""),
        "alg NONE, RS256 signature": kit.mint_raw(
            {**header, "alg": "NONE"}, claims, key=kit.key, alg="RS256"
        ),
        "no alg, RS256 signature": kit.mint_raw(header, claims, key=kit.key, alg="RS256"),
        "RS384 (not in the allow-list)": kit.mint(scopes=ALL, alg="RS384"),
        "RS512 (not in the allow-list)": kit.mint(scopes=ALL, alg="RS512"),
        "PS256 (not in the allow-list)": kit.mint(scopes=ALL, alg="PS256"),
        "ES256 with an unpublished key": kit.mint(scopes=ALL, alg="ES256", key=ec_key),
        "HS512 keyed with the public PEM": kit.mint_raw(
            {**header, "alg": "HS512"}, claims, key=kit.public_pem()
        ),
    }


CASES = [
    "hs256 keyed with the public PEM",
    "hs256 keyed with the public JWK",
    "alg none, no signature",
    "alg None, no signature",
    "alg NONE, RS256 signature",
    "no alg, RS256 signature",
    "RS384 (not in the allow-list)",
    "RS512 (not in the allow-list)",
    "PS256 (not in the allow-list)",
    "ES256 with an unpublished key",
    "HS512 keyed with the public PEM",
]


@pytest.mark.parametrize("case", CASES)
def test_algorithm_confusion_token_is_refused(client, kit, case):
    token = _confusion_tokens(kit)[case]
    resp = client.get("/secured/ping", headers={"Authorization": f"Bearer {token}"})
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_token")
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_algorithm_confusion_control_rs256_token_is_accepted(client, kit):
    token = kit.mint(scopes=ALL)
    resp = client.get("/secured/ping", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200


@pytest.mark.parametrize("env", [{}, {"AUTH_ALGORITHMS": "RS256,PS256,ES256"}])
def test_algorithm_confusion_hs256_refused_whatever_the_asymmetric_list(kit, jwks, env):
    from cashman import create_app
    from cashman.config import Settings

    app = create_app(Settings.from_env({**kit.env(), **env, "DATABASE_URL": "sqlite://"}))
    token = kit.mint_hs256_with_public_key("pem", scopes=ALL)
    resp = app.test_client().get("/secured/ping", headers={"Authorization": f"Bearer {token}"})
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_token")


@pytest.mark.parametrize(
    "algorithms",
    ["HS256", "hs256", "RS256,HS256", "HS384", "HS512", "none", "None", "RS256, none", "NONE"],
)
def test_symmetric_or_none_algorithm_stops_start_up(kit, algorithms):
    with pytest.raises(ConfigError) as exc:
        AuthSettings.from_env({**kit.env(), "AUTH_ALGORITHMS": algorithms})
    assert exc.value.variable == "AUTH_ALGORITHMS"
    assert "\n" not in str(exc.value)
