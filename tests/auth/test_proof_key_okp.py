"""EdDSA proofs (RFC 8037; RFC 9864's Ed25519): OKP keys, their thumbprints, signatures,
and the settings and requests that turn them on (SPEC §2 ``AUTH_DPOP_ALGORITHMS``:
asymmetric only; §3a step 3: a public key that fits ``alg``)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

from auth import ConfigError, DPoPSettings
from auth.errors import InvalidDPoPProofError
from auth.jws import decode_segment
from auth.proof_key import jwk_thumbprint, proof_key
from auth.settings import AuthSettings
from auth.testing import DPoPKey, dpop_headers, private_jwk, sign
from tests.auth.minimal_app import READ, build_app

# RFC 8037 Appendix A.2 (the example public key), A.3 (its thumbprint) and A.4 (a JWS it
# signed, whose payload is "Example of Ed25519 signing")
RFC8037_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)
URL = "http://localhost/secured"


def test_rfc8037_example_thumbprint():
    assert jwk_thumbprint(RFC8037_JWK) == RFC8037_THUMBPRINT
    assert jwk_thumbprint({**RFC8037_JWK, "kid": "k", "use": "sig"}) == RFC8037_THUMBPRINT


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519"])
def test_rfc8037_example_signature_verifies(alg):
    key = proof_key(dict(RFC8037_JWK), alg)
    header, payload, signature = RFC8037_JWS.split(".")
    signing_input = f"{header}.{payload}".encode("ascii")
    assert key.jkt == RFC8037_THUMBPRINT
    assert key.verify(signing_input, decode_segment(signature))
    assert not key.verify(signing_input + b"x", decode_segment(signature))


@pytest.mark.parametrize(
    ("alg", "private_key"),
    [
        ("EdDSA", ed25519.Ed25519PrivateKey.generate()),
        ("EdDSA", ed448.Ed448PrivateKey.generate()),
        ("Ed25519", ed25519.Ed25519PrivateKey.generate()),
    ],
)
def test_kit_edwards_keys_sign_what_the_verifier_accepts(alg, private_key):
    client = DPoPKey(alg, key=private_key)
    key = proof_key(client.jwk(), alg)
    assert key.jkt == client.jkt == jwk_thumbprint(client.jwk())
    signature = sign(b"message", alg, private_key)
    assert key.verify(b"message", signature)
    assert not key.verify(b"other message", signature)


def _refused(jwk, alg):
    with pytest.raises(InvalidDPoPProofError):
        proof_key(jwk, alg)


@pytest.mark.parametrize(
    ("jwk", "alg"),
    [
        (DPoPKey("EdDSA", key=ed448.Ed448PrivateKey.generate()).jwk(), "Ed25519"),  # Ed448
        ({**RFC8037_JWK, "crv": "X25519"}, "EdDSA"),  # a key-agreement curve
        ({**RFC8037_JWK, "crv": "P-256"}, "EdDSA"),
        ({**RFC8037_JWK, "kty": "EC"}, "EdDSA"),
        (RFC8037_JWK, "ES256"),
        ({**RFC8037_JWK, "x": RFC8037_JWK["x"][:-2]}, "EdDSA"),  # 31 octets
        ({**RFC8037_JWK, "x": RFC8037_JWK["x"] + "="}, "EdDSA"),  # padded
        ({"kty": "OKP", "crv": "Ed25519"}, "EdDSA"),  # no x
        ({**RFC8037_JWK, "alg": "ES256"}, "EdDSA"),
        (private_jwk(ed25519.Ed25519PrivateKey.generate()), "EdDSA"),  # with its "d"
    ],
)
def test_okp_jwk_that_does_not_fit_is_refused(jwk, alg):
    _refused(jwk, alg)


def test_dpop_algorithms_take_eddsa_in_any_case_and_spell_it_as_the_rfcs_do():
    env = {"API_BASE_URL": "https://api.example.com"}
    settings = DPoPSettings.from_env({**env, "AUTH_DPOP_ALGORITHMS": "eddsa, ES256,ED25519"})
    assert settings.auth_dpop_algorithms == ("EdDSA", "ES256", "Ed25519")


def test_access_tokens_still_refuse_eddsa_at_start_up(kit):
    # python-jose, which verifies access tokens, has no EdDSA: only proofs take it
    with pytest.raises(ConfigError, match="AUTH_ALGORITHMS"):
        AuthSettings.from_env({**kit.env(), "AUTH_ALGORITHMS": "EdDSA"})


@pytest.fixture
def make_api(kit, jwks):
    def make(algorithms):
        dpop = DPoPSettings(use_request_url=True, auth_dpop_algorithms=algorithms)
        return build_app(kit.settings(dpop=dpop)).test_client()

    return make


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519"])
def test_edwards_proofs_are_accepted_where_configured(make_api, kit, alg):
    client = DPoPKey(alg)
    token = client.mint_bound(kit, scopes=[READ])
    api = make_api(("ES256", alg))
    resp = api.get("/secured", headers=dpop_headers(token, client.proof("GET", URL, token)))
    assert resp.status_code == 200, resp.json
    challenge = api.get("/secured").headers["WWW-Authenticate"]
    assert challenge == f'Bearer realm="cashman", DPoP algs="ES256 {alg}"'


def test_edwards_proofs_are_refused_by_default(make_api, kit):
    client = DPoPKey("EdDSA")
    token = client.mint_bound(kit, scopes=[READ])
    resp = make_api(("ES256",)).get(
        "/secured", headers=dpop_headers(token, client.proof("GET", URL, token))
    )
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_dpop_proof")
