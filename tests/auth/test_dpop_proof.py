"""DPoP verification, SPEC §3a steps 1-3 (header, token ``cnf``, JOSE header, signature).

Every refused proof below breaks exactly one rule; the rest of it is valid, which the
first test shows for the unbroken proof.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from auth.dpop import MAX_PROOF_LENGTH
from auth.errors import InvalidDPoPProofError, InvalidTokenError
from auth.testing import OMIT, DPoPKey, b64url, sign
from tests.auth.dpop_case import BASE_URL, DPoPCase


def refused(case: DPoPCase, proof: str | list[str], **kwargs) -> InvalidDPoPProofError:
    with pytest.raises(InvalidDPoPProofError) as caught:
        case.verify(proof, **kwargs)
    return caught.value


def test_valid_proof_is_accepted_and_returns_its_jkt(case, client_key):
    proof = case.proof(jti="proof-1")
    accepted = case.verify(proof)
    assert (accepted.jkt, accepted.jti, accepted.iat) == (client_key.jkt, "proof-1", case.clock.now)


# -- step 1: exactly one DPoP header holding one compact JWS of at most 8 KiB --------------


def test_no_dpop_header_is_refused(case):
    refused(case, [])


def test_two_dpop_headers_are_refused(case):
    refused(case, [case.proof(), case.proof()])


@pytest.mark.parametrize("separator", [",", ", ", " ,"])
def test_comma_joined_dpop_headers_are_refused(case, separator):
    refused(case, [case.proof() + separator + case.proof()])


def test_surrounding_whitespace_is_not_part_of_the_value(case):
    assert case.verify([" \t" + case.proof() + " "])


@pytest.mark.parametrize(
    "value", ["", "abc", "a.b", "a.b.c.d", "a..c", ".b.c", "a b.c.d", "e30.e30.c2ln=", "é.e30.a"]
)
def test_value_that_is_not_one_compact_jws_is_refused(case, value):
    refused(case, [value])


def test_proof_of_8_kib_is_accepted_and_one_more_byte_is_refused(case):
    base = len(case.proof(claims={"pad": ""}, jti="pad-0000"))
    estimate = (MAX_PROOF_LENGTH - base) * 3 // 4
    sizes = {}
    for pad in range(estimate - 6, estimate + 6):
        proof = case.proof(claims={"pad": "x" * pad}, jti=f"pad-{pad:04}")
        sizes.setdefault(len(proof), proof)
    at_limit = max(size for size in sizes if size <= MAX_PROOF_LENGTH)
    over = min(size for size in sizes if size > MAX_PROOF_LENGTH)
    assert MAX_PROOF_LENGTH - at_limit < 4  # as close to the limit as base64 allows
    assert case.verify(sizes[at_limit])
    refused(case, sizes[over])


# -- step 2: the token carries cnf with a string jkt, and nothing else --------------------


@pytest.mark.parametrize(
    "cnf",
    [
        OMIT,
        None,
        "jkt",
        {},
        {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"},
        {"jkt": 42},
        {"jkt": ""},
        {"jkt": None},
    ],
)
def test_token_without_a_string_cnf_jkt_is_invalid_token(case, cnf):
    claims = {k: v for k, v in case.claims.items() if k != "cnf"}
    if cnf is not OMIT:
        claims["cnf"] = cnf
    with pytest.raises(InvalidTokenError) as caught:
        case.verify(case.proof(), token_claims=claims)
    assert type(caught.value) is InvalidTokenError


def test_token_bound_to_jkt_and_another_method_is_invalid_token(case, client_key):
    claims = {**case.claims, "cnf": {"jkt": client_key.jkt, "x5t#S256": "abc"}}
    with pytest.raises(InvalidTokenError) as caught:
        case.verify(case.proof(), token_claims=claims)
    assert type(caught.value) is InvalidTokenError


def test_token_cnf_is_checked_before_the_proof_itself(case):
    # SPEC §3a order: step 2 (the token) comes before step 3 (the proof's claims)
    claims = {k: v for k, v in case.claims.items() if k != "cnf"}
    with pytest.raises(InvalidTokenError) as caught:
        case.verify(case.proof(method="POST"), token_claims=claims)
    assert type(caught.value) is InvalidTokenError


def test_missing_proof_is_checked_before_the_token(case):
    claims = {k: v for k, v in case.claims.items() if k != "cnf"}
    refused(case, [], token_claims=claims)


# -- step 3: JOSE header -------------------------------------------------------------------


def _raw_proof(client_key: DPoPKey, header, payload, alg: str = "ES256") -> str:
    """A proof from exactly these header/payload bytes, signed by ``client_key``."""
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    return f"{signing_input}.{b64url(sign(signing_input.encode(), alg, client_key.private_key))}"


def _payload(case: DPoPCase) -> bytes:
    return json.dumps(
        {
            "jti": "raw",
            "htm": "GET",
            "htu": f"{BASE_URL}/incomes",
            "iat": int(case.clock.now),
            "ath": b64url(hashlib.sha256(case.token.encode()).digest()),
        }
    ).encode()


def _header(client_key: DPoPKey) -> bytes:
    return json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": client_key.jwk()}).encode()


def test_raw_proof_helper_makes_a_valid_proof(case, client_key):
    assert case.verify(_raw_proof(client_key, _header(client_key), _payload(case)))


@pytest.mark.parametrize(
    "header",
    [b"not json", b"[1]", b'{"typ":"dpop+jwt","typ":"dpop+jwt"}', b"\xff"],
)
def test_header_that_is_not_a_json_object_is_refused(case, client_key, header):
    refused(case, _raw_proof(client_key, header, _payload(case)))


@pytest.mark.parametrize(
    "payload", [b"not json", b'"claims"', b'{"jti":"a","jti":"b"}', b'{"iat":NaN}']
)
def test_payload_that_is_not_a_json_object_is_refused(case, client_key, payload):
    refused(case, _raw_proof(client_key, _header(client_key), payload))


def test_duplicate_claim_is_refused_even_when_both_are_valid(case, client_key):
    payload = _payload(case).replace(b'"jti": "raw"', b'"jti": "raw", "jti": "raw"')
    refused(case, _raw_proof(client_key, _header(client_key), payload))


@pytest.mark.parametrize("typ", [OMIT, None, "JWT", "at+jwt", "dpop", "dpop+jwt2", 1])
def test_typ_other_than_dpop_jwt_is_refused(case, typ):
    refused(case, case.proof(headers={"typ": typ}))


@pytest.mark.parametrize("typ", ["DPoP+JWT", "application/dpop+jwt", "Application/DPOP+JWT"])
def test_typ_is_compared_case_insensitively(case, typ):
    assert case.verify(case.proof(headers={"typ": typ}))


def test_alg_outside_the_dpop_algorithms_is_refused(kit):
    client_key = DPoPKey("ES384")
    case = DPoPCase(kit, client_key)  # AUTH_DPOP_ALGORITHMS = ES256
    refused(case, case.proof())
    allowed = DPoPCase(kit, client_key, auth_dpop_algorithms=("ES256", "ES384"))
    assert allowed.verify(allowed.proof())


@pytest.mark.parametrize("alg", [OMIT, None, "none", "HS256", "es256", "RS256"])
def test_alg_not_allowed_is_refused(case, alg):
    refused(case, case.proof(headers={"alg": alg}))


def test_hs256_keyed_with_the_public_jwk_is_refused(case, client_key):
    secret = json.dumps(client_key.jwk()).encode()
    refused(case, case.proof(headers={"alg": "HS256"}, alg="HS256", key=secret))


def test_missing_jwk_is_refused(case):
    refused(case, case.proof(headers={"jwk": OMIT}))


def test_jwk_with_the_private_key_is_refused(case):
    refused(case, case.proof(embed_private=True))


def test_jwk_that_does_not_fit_alg_is_refused(case):
    refused(case, case.proof(headers={"jwk": DPoPKey("ES384").jwk()}))


def test_rsa_proof_is_accepted_when_configured(kit):
    case = DPoPCase(kit, DPoPKey("PS256"), auth_dpop_algorithms=("ES256", "PS256"))
    assert case.verify(case.proof())


@pytest.mark.parametrize("member", [{"crit": ["exp"]}, {"crit": []}, {"cty": "JWT"}])
def test_crit_or_cty_is_refused(case, member):
    refused(case, case.proof(headers=member))


def test_key_references_are_ignored_not_followed(case):
    # no fetch happens (no HTTP mock is active) and the jwk alone decides
    headers = {
        "kid": "other-key",
        "jku": "https://evil.example/jwks.json",
        "x5u": "https://evil.example/cert.pem",
        "x5c": ["MIIB"],
    }
    assert case.verify(case.proof(headers=headers))


def test_key_references_cannot_replace_the_jwk(case):
    attacker = DPoPKey()
    headers = {"jku": "https://evil.example/jwks.json", "kid": "attacker"}
    refused(case, case.proof(headers=headers, key=attacker.private_key))


# -- step 3: signature ---------------------------------------------------------------------


def test_corrupted_signature_is_refused(case):
    refused(case, case.proof(corrupt_signature=True))


def test_proof_signed_by_another_key_than_its_jwk_is_refused(case):
    refused(case, case.proof(key=DPoPKey().private_key))


@pytest.mark.parametrize("signature", ["AA", "A" * 86, "A" * 88])
def test_signature_of_the_wrong_size_is_refused(case, signature):
    header, payload, _ = case.proof().split(".")
    refused(case, f"{header}.{payload}.{signature}")


def test_signature_over_another_payload_is_refused(case):
    header, _, signature = case.proof(jti="one").split(".")
    _, payload, _ = case.proof(jti="two").split(".")
    refused(case, f"{header}.{payload}.{signature}")


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 1500 + b"]" * 1500,
        b'{"":' * 1100 + b"1" + b"}" * 1100,
        b'{"iat":' + b"9" * 5000 + b"}",
    ],
)
def test_hostile_payload_is_refused_not_a_crash(case, client_key, payload):
    proof = _raw_proof(client_key, _header(client_key), payload)
    assert len(proof) <= MAX_PROOF_LENGTH  # it reaches the parser
    refused(case, proof)
