"""The test kit's DPoP half (SPEC §7): client keys, bound tokens, proofs broken on demand."""

from __future__ import annotations

import base64
import json
import sys

import pytest

from auth.testing import (
    OMIT,
    DPoPKey,
    access_token_hash,
    dpop_headers,
    generate_ec_key,
    generate_rsa_key,
    jwk_thumbprint,
    private_jwk,
)
from auth.testing.keys import segment


def payload_of(token: str) -> dict:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _header(proof: str) -> dict:
    return payload_of(f"x.{proof.split('.')[0]}.x")


@pytest.mark.parametrize(("alg", "kty"), [("ES256", "EC"), ("ES384", "EC"), ("RS256", "RSA")])
def test_client_key_publishes_only_the_thumbprint_members(alg, kty):
    jwk = DPoPKey(alg).jwk()
    assert jwk["kty"] == kty
    assert set(jwk) == ({"kty", "crv", "x", "y"} if kty == "EC" else {"kty", "n", "e"})


def test_default_client_key_is_es256():
    assert DPoPKey().jwk()["crv"] == "P-256"


def test_mint_bound_puts_the_thumbprint_in_cnf(kit):
    client = DPoPKey()
    claims = payload_of(client.mint_bound(kit, sub="alice", claims={"azp": "spa"}))
    assert claims["cnf"] == {"jkt": client.jkt}
    assert (claims["sub"], claims["azp"]) == ("alice", "spa")


def test_proof_has_the_rfc9449_header_and_claims():
    client = DPoPKey()
    proof = client.proof("POST", "https://api.example.com/incomes", "token", now=1000.9)
    header, claims = _header(proof), payload_of(proof)
    assert header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": client.jwk()}
    assert {k: claims[k] for k in ("htm", "htu", "iat", "ath")} == {
        "htm": "POST",
        "htu": "https://api.example.com/incomes",
        "iat": 1000,
        "ath": access_token_hash("token"),
    }
    assert len(claims["jti"]) >= 16


def test_each_proof_has_a_new_jti():
    client = DPoPKey()
    first, second = (payload_of(client.proof("GET", "https://a.example/")) for _ in range(2))
    assert first["jti"] != second["jti"]


def test_proof_without_token_has_no_ath_and_nonce_is_added_when_given():
    claims = payload_of(DPoPKey().proof("GET", "https://a.example/", nonce="n-1"))
    assert "ath" not in claims
    assert claims["nonce"] == "n-1"


def test_any_claim_or_header_member_can_be_changed_or_dropped():
    proof = DPoPKey().proof(
        "GET",
        "https://a.example/",
        "token",
        claims={"htm": "PUT", "ath": OMIT, "extra": 1},
        headers={"typ": "JWT", "jwk": OMIT, "kid": "k"},
    )
    assert _header(proof) == {"typ": "JWT", "alg": "ES256", "kid": "k"}
    claims = payload_of(proof)
    assert (claims["htm"], claims["extra"], "ath" in claims) == ("PUT", 1, False)


def test_embed_private_puts_the_private_key_in_the_jwk():
    client = DPoPKey()
    jwk = _header(client.proof("GET", "https://a.example/", embed_private=True))["jwk"]
    assert jwk == private_jwk(client.private_key)
    assert "d" in jwk


def test_private_rsa_jwk_has_every_private_member():
    assert {"d", "p", "q", "dp", "dq", "qi"} <= set(private_jwk(DPoPKey("RS256").private_key))


def test_corrupt_signature_changes_only_the_signature():
    client = DPoPKey()
    good = client.proof("GET", "https://a.example/", jti="j", now=1000)
    bad = client.proof("GET", "https://a.example/", jti="j", now=1000, corrupt_signature=True)
    assert good.rsplit(".", 1)[0] == bad.rsplit(".", 1)[0]
    assert good.rsplit(".", 1)[1] != bad.rsplit(".", 1)[1]


def test_kit_thumbprint_of_the_rfc9449_example_key():
    jwk = {
        "kty": "EC",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        "crv": "P-256",
    }
    assert jwk_thumbprint(jwk) == "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def test_dpop_headers():
    assert dpop_headers("tok", "prf") == {"Authorization": "DPoP tok", "DPoP": "prf"}


@pytest.mark.parametrize("alg", ["foo", "ES256K", "HS256", "eddsa", "ed448", "X25519", ""])
def test_client_key_refuses_an_algorithm_it_cannot_make(alg):
    with pytest.raises(ValueError, match="ES\\*, RS\\* or PS\\*"):
        DPoPKey(alg)


@pytest.mark.parametrize(
    ("alg", "make_key"),
    [
        ("ES384", lambda: generate_ec_key("ES256")),  # another curve
        ("ES256", generate_rsa_key),
        ("RS256", lambda: generate_ec_key("ES256")),
        ("PS256", lambda: generate_ec_key("ES256")),
    ],
)
def test_client_key_refuses_a_key_that_cannot_sign_its_algorithm(alg, make_key):
    # taken silently, it made proofs every API refuses, with nothing saying why
    with pytest.raises(ValueError, match=f"{alg} needs"):
        DPoPKey(alg, key=make_key())


@pytest.mark.parametrize("limit", [4300, 640])  # Python's default, and its lowest
def test_the_kit_writes_every_digit_of_a_huge_integer(limit):
    number = -(10**5000) - 123456789
    previous = sys.get_int_max_str_digits()
    try:
        sys.set_int_max_str_digits(0)
        expected = f'{{"n":{number},"m":[1,{-number}]}}'
        sys.set_int_max_str_digits(limit)
        written = segment({"n": number, "m": (1, -number)})
    finally:
        sys.set_int_max_str_digits(previous)
    assert base64.urlsafe_b64decode(written + "=" * (-len(written) % 4)).decode() == expected
