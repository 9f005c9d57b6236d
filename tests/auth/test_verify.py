"""``TokenVerifier``: the SPEC §3 pipeline end to end, its memo, issuers and odd inputs.

Each step's rules are tested with their module: ``test_jws.py`` (steps 1-2),
``test_keyset.py`` (step 3), ``test_claims.py`` (step 5); the signature (step 4),
the issuer selection and what holds the steps together are here.
"""

from __future__ import annotations

import json
import time

import pytest

from auth.errors import InvalidClaimsError, InvalidTokenError, TokenExpiredError
from auth.testing import AuthKit, b64url
from auth.verify import HEADER_MEMO_SIZE, TokenVerifier
from tests.auth.clocks import NOW


def test_verify_valid_token_returns_claims(kit, mint_at, verifier):
    claims = verifier().verify(mint_at(sub="alice", scopes=["read:transactions"]))
    assert claims["sub"] == "alice"
    assert claims["scope"] == "read:transactions"
    assert claims["iss"] == kit.issuer


def test_verify_other_key_with_same_kid_is_invalid_token(kit, mint_at, verifier):
    with pytest.raises(InvalidTokenError):
        verifier().verify(mint_at(key=kit.other_key()))


def test_verify_tampered_payload_is_invalid_token(kit, mint_at, verifier):
    header, _, signature = mint_at().split(".")
    forged = b64url(json.dumps(kit.claims(sub="admin")).encode())
    with pytest.raises(InvalidTokenError):
        verifier().verify(f"{header}.{forged}.{signature}")


def test_verify_real_clock_default(kit, jwks):
    verifier = TokenVerifier(kit.settings())
    assert verifier.verify(kit.mint())["sub"] == "user-1"
    with pytest.raises(TokenExpiredError):
        verifier.verify(kit.mint(expires_in=-3600))
    assert time.time() > NOW


def test_verify_unconfigured_issuer_does_not_fetch(mint_at, jwks, verifier):
    with pytest.raises(InvalidClaimsError):
        verifier().verify(mint_at(claims={"iss": "https://other-tenant.example.com/"}))
    assert len(jwks.calls) == 0


def test_verify_several_issuers_each_use_their_own_jwks(jwks):
    a = AuthKit("https://a.example.com/")
    b = AuthKit("https://b.example.com/", kid="b-key", key=a.other_key(fresh=True))
    a.publish(jwks)
    b.publish(jwks)
    settings = a.settings(
        issuers=(a.issuer, b.issuer),
        jwks_urls={
            a.issuer: a.jwks_url,
            b.issuer: b.jwks_url,
        },
    )
    verifier = TokenVerifier(settings)
    assert verifier.verify(a.mint())["iss"] == a.issuer
    assert verifier.verify(b.mint())["iss"] == b.issuer
    # B's iss with A's key and kid: B's JWKS has no such key.
    forged = a.mint(claims={"iss": b.issuer})
    with pytest.raises(InvalidTokenError):
        verifier.verify(forged)
    assert {call.request.url for call in jwks.calls} == {a.jwks_url, b.jwks_url}


def test_verify_header_memo_keeps_only_accepted_headers(mint_at, verifier):
    v = verifier()
    v.verify(mint_at())
    with pytest.raises(InvalidTokenError):
        v.verify(mint_at(headers={"alg": "HS256"}))
    assert len(v._header_memo) == 1
    with pytest.raises(InvalidTokenError):
        v.verify(mint_at(headers={"alg": "HS256"}))


def test_verify_header_memo_is_bounded(mint_at, verifier):
    v = verifier()
    for i in range(HEADER_MEMO_SIZE + 10):
        v.verify(mint_at(headers={"x-n": i}))
    assert len(v._header_memo) == HEADER_MEMO_SIZE


@pytest.mark.parametrize(
    "make_token",
    [
        lambda signed, mint_at: "é.a.b",
        lambda signed, mint_at: "a.b.é",
        lambda signed, mint_at: "é",
        lambda signed, mint_at: "\x00",
        lambda signed, mint_at: "a.b.\x00",
        lambda signed, mint_at: "\ud800.a.b",
        lambda signed, mint_at: "a.b.\udcff",
        lambda signed, mint_at: "...",
        lambda signed, mint_at: "",
        lambda signed, mint_at: " ",
        lambda signed, mint_at: "a" * 100_000,
        lambda signed, mint_at: "." * 100_000,
        lambda signed, mint_at: "e30." * 25_000,
        lambda signed, mint_at: signed + "é",
        lambda signed, mint_at: "é" + signed,
        lambda signed, mint_at: signed + "\x00",
        lambda signed, mint_at: signed + " ",
        lambda signed, mint_at: mint_at(claims={"pad": "x" * 100_000}),
        lambda signed, mint_at: None,
        lambda signed, mint_at: signed.encode("ascii"),
        lambda signed, mint_at: 42,
    ],
)
@pytest.mark.parametrize("token_cache_size", [4096, 0])
def test_verify_called_directly_with_odd_input_is_invalid_token(
    mint_at, verifier, make_token, token_cache_size
):
    # verify() is public: a caller may skip parse_bearer, so it refuses any input itself.
    v = verifier(token_cache_size=token_cache_size)
    token = make_token(mint_at(), mint_at)
    with pytest.raises(InvalidTokenError) as caught:
        v.verify(token)
    assert type(caught.value) is InvalidTokenError
