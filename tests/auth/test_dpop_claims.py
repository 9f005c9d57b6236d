"""DPoP verification, SPEC §3a step 3 claims: ``jti``, ``htm``, ``htu``, ``iat``, ``ath``,
and ``exp`` and ``nbf`` when a proof carries them.

Each refused proof breaks one claim; the rest is valid.
"""

from __future__ import annotations

import pytest

from auth.errors import InvalidDPoPProofError
from auth.testing import OMIT
from tests.auth.dpop_case import BASE_URL, LEEWAY, NOW, URL, DPoPCase, payload_of

MAX_AGE = 300


def refused(case: DPoPCase, proof: str, **kwargs) -> None:
    with pytest.raises(InvalidDPoPProofError):
        case.verify(proof, **kwargs)


# -- jti -----------------------------------------------------------------------------------


@pytest.mark.parametrize("jti", [OMIT, None, "", 42, ["a"], "x" * 257])
def test_jti_not_a_string_of_1_to_256_characters_is_refused(case, jti):
    refused(case, case.proof(claims={"jti": jti}))


@pytest.mark.parametrize("jti", ["j", "x" * 256, "é" * 256, "\ud800 lone surrogate"])
def test_jti_of_1_to_256_characters_is_accepted(case, jti):
    assert case.verify(case.proof(claims={"jti": jti})).jti == jti


# -- htm -----------------------------------------------------------------------------------


@pytest.mark.parametrize("htm", [OMIT, None, "POST", "get", "GET ", ["GET"]])
def test_htm_other_than_the_request_method_is_refused(case, htm):
    refused(case, case.proof(claims={"htm": htm}))


def test_htm_must_match_the_method_of_the_request(case):
    proof = case.proof("DELETE")
    refused(case, proof, method="GET")
    assert case.verify(proof, method="DELETE")


# -- htu -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "htu",
    [
        OMIT,
        None,
        42,
        "",
        "/incomes",
        "https://evil.example/incomes",  # another host
        "https://api.example.com/expenses",  # another path
        "http://api.example.com/incomes",  # another scheme
        "https://api.example.com:8443/incomes",  # another port
        "https://api.example.com/incomes/",  # a trailing slash is another path
        "https://api.example.com/Incomes",  # paths are case-sensitive
        "https://api.example.com/incomes%2F",  # an escaped reserved character is not "/"
        "https://api.example.com/%zz",  # malformed
        "https://api.example.com.evil.example/incomes",
        "https://evil.example/https://api.example.com/incomes",
    ],
)
def test_htu_other_than_the_request_uri_is_refused(case, htu):
    refused(case, case.proof(claims={"htu": htu}))


@pytest.mark.parametrize(
    "htu",
    [
        "HTTPS://API.EXAMPLE.COM/incomes",
        "https://api.example.com:443/incomes",
        "https://api.example.com/%69ncomes",
        "https://api.example.com/x/../incomes",
        "https://api.example.com/./incomes",
        # RFC 9449 §4.3 check 9: the proof's query and fragment are ignored
        "https://api.example.com/incomes?limit=5",
        "https://api.example.com/incomes#frag",
    ],
)
def test_htu_is_compared_after_normalisation(case, htu):
    assert case.verify(case.proof(claims={"htu": htu}))


def test_request_uri_is_normalised_too(case):
    proof = case.proof(url=f"{BASE_URL}/incomes/1")
    assert case.verify(proof, htu="https://API.example.com:443/incomes/%31?cursor=x")


def test_request_uri_query_is_ignored(case):
    assert case.verify(case.proof(), htu=f"{URL}?limit=2")


def test_proof_for_another_base_url_is_refused(kit, client_key):
    # a proof made for the host an attacker forged is worth nothing against API_BASE_URL
    case = DPoPCase(kit, client_key)
    refused(case, case.proof(url="https://attacker.example/incomes"))


# -- iat -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iat",
    [OMIT, None, str(int(NOW)), True, [NOW], {"t": NOW}, -1, 10**20, 253402300800, 1e400],
)
def test_iat_not_a_numeric_date_is_refused(case, iat):
    refused(case, case.proof(claims={"iat": iat}))


def test_iat_as_a_fraction_is_accepted(case):
    assert case.verify(case.proof(claims={"iat": NOW - 0.5})).iat == NOW - 0.5


def test_iat_older_than_max_age_plus_leeway_is_refused(case):
    refused(case, case.proof(claims={"iat": NOW - MAX_AGE - LEEWAY - 1}))


def test_iat_exactly_max_age_plus_leeway_old_is_accepted(case):
    assert case.verify(case.proof(claims={"iat": NOW - MAX_AGE - LEEWAY}))


def test_iat_in_the_future_beyond_the_leeway_is_refused(case):
    refused(case, case.proof(claims={"iat": NOW + LEEWAY + 1}))


def test_iat_in_the_future_within_the_leeway_is_accepted(case):
    assert case.verify(case.proof(claims={"iat": NOW + LEEWAY}))


def test_max_age_is_configurable(kit, client_key):
    case = DPoPCase(kit, client_key, auth_dpop_max_age=10)
    refused(case, case.proof(claims={"iat": NOW - 10 - LEEWAY - 1}))
    assert case.verify(case.proof(claims={"iat": NOW - 10 - LEEWAY}))


# -- ath -----------------------------------------------------------------------------------


@pytest.mark.parametrize("ath", [OMIT, None, "", 42, "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"])
def test_ath_other_than_the_token_hash_is_refused(case, ath):
    refused(case, case.proof(claims={"ath": ath}))


def test_proof_for_another_token_of_the_same_key_is_refused(case, client_key):
    other_token = client_key.mint_bound(case.kit, scopes=["write:transactions"])
    refused(case, case.proof(access_token=other_token))


def test_ath_with_padding_is_refused(case):
    ath = payload_of(case.proof())["ath"]
    refused(case, case.proof(claims={"ath": ath + "="}))


# -- exp and nbf (RFC 7519 §4.1.4-§4.1.5: a proof is a JWT) ---------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": NOW - LEEWAY},  # expired, the leeway spent
        {"exp": NOW - 1000},
        {"nbf": NOW + LEEWAY + 1},  # not valid yet
        {"exp": "soon"},
        {"exp": None},
        {"exp": True},
        {"nbf": [NOW]},
        {"nbf": -1},
    ],
)
def test_proof_expired_not_yet_valid_or_with_malformed_times_is_refused(case, claims):
    refused(case, case.proof(claims=claims))


@pytest.mark.parametrize(
    "claims",
    [{"exp": NOW + 60}, {"exp": NOW - LEEWAY + 1}, {"nbf": NOW + LEEWAY}, {"nbf": NOW - 5}],
)
def test_proof_within_its_exp_and_nbf_is_accepted(case, claims):
    assert case.verify(case.proof(claims=claims))
