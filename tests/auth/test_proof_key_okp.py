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
from auth.testing import DPoPKey, b64url, dpop_headers, private_jwk, sign
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
        ("Ed448", ed448.Ed448PrivateKey.generate()),
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


ED25519_P = 2**255 - 19
ED448_P = 2**448 - 2**224 - 1


def _ed25519_x(y: int, sign: int = 0) -> str:
    return b64url((y | sign << 255).to_bytes(32, "little"))


def _ed448_x(y: int, last: int = 0) -> str:
    return b64url(y.to_bytes(56, "little") + bytes([last]))


# RFC 8032 §5.1.3: the y of Ed25519's points of small order (libsodium's blocklist)
SMALL_ORDER_25519 = [
    0,
    1,
    ED25519_P - 1,
    2707385501144840649318225287225658788936804267575313519463743609750303402022,
    55188659117513257062467267217118295137698188065244968500265048394206261417927,
]


@pytest.mark.parametrize("sign", [0, 1])
@pytest.mark.parametrize("y", SMALL_ORDER_25519)
def test_ed25519_keys_of_small_order_are_refused(y, sign):
    _refused({**RFC8037_JWK, "x": _ed25519_x(y, sign)}, "EdDSA")


def test_the_identity_key_would_accept_a_forged_signature_for_any_message():
    # why small orders are refused: R the identity and S = 0 verify against the identity
    # key whatever was signed, so a token bound to it needs no private key at all
    identity = ed25519.Ed25519PublicKey.from_public_bytes(b"\x01" + bytes(31))
    forged = b"\x01" + bytes(31) + bytes(32)
    identity.verify(forged, b"any proof at all")  # no InvalidSignature: the hole
    _refused({**RFC8037_JWK, "x": _ed25519_x(1)}, "Ed25519")


@pytest.mark.parametrize("y", [ED25519_P, ED25519_P + 1, ED25519_P + 2, 2**255 - 1])
def test_ed25519_keys_in_a_second_spelling_are_refused(y):
    # y >= p spells a point y - p also has: one key, one thumbprint (RFC 8032 §5.1.3)
    _refused({**RFC8037_JWK, "x": _ed25519_x(y)}, "EdDSA")


@pytest.mark.parametrize(
    "x",
    [
        _ed448_x(1),  # the identity
        _ed448_x(0),
        _ed448_x(ED448_P - 1),
        _ed448_x(ED448_P + 5),  # a second spelling
        _ed448_x(5, last=0x01),  # a bit beside the sign
    ],
)
def test_ed448_keys_of_small_order_or_in_a_second_spelling_are_refused(x):
    _refused({"kty": "OKP", "crv": "Ed448", "x": x}, "EdDSA")


def test_dpop_algorithms_take_eddsa_in_any_case_and_spell_it_as_the_rfcs_do():
    env = {"API_BASE_URL": "https://api.example.com"}
    given = "eddsa, ES256,ED25519,ed448"
    settings = DPoPSettings.from_env({**env, "AUTH_DPOP_ALGORITHMS": given})
    assert settings.auth_dpop_algorithms == ("EdDSA", "ES256", "Ed25519", "Ed448")


def test_access_tokens_still_refuse_eddsa_at_start_up(kit):
    # python-jose, which verifies access tokens, has no EdDSA: only proofs take it
    with pytest.raises(ConfigError, match="AUTH_ALGORITHMS: 'EdDSA' is for DPoP proofs only"):
        AuthSettings.from_env({**kit.env(), "AUTH_ALGORITHMS": "EdDSA"})


@pytest.fixture
def make_api(kit, jwks):
    def make(algorithms):
        dpop = DPoPSettings(use_request_url=True, auth_dpop_algorithms=algorithms)
        return build_app(kit.settings(dpop=dpop)).test_client()

    return make


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519", "Ed448"])
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
