"""``TokenVerifier``: each SPEC §3 step refused on its own, attack tokens, valid variants.

Every failing token below breaks exactly one rule; the rest of it is valid.
"""

from __future__ import annotations

import json
import time

import pytest
import responses

from auth.errors import (
    AuthError,
    InvalidClaimsError,
    InvalidTokenError,
    TokenExpiredError,
)
from auth.testing import OMIT, AuthKit, b64url, generate_ec_key, generate_rsa_key, public_jwk
from auth.verify import TokenVerifier

NOW = 1_750_000_000.0


@pytest.fixture
def verifier(kit, jwks):
    """``verifier(**setting_overrides)`` -> a TokenVerifier whose clock is ``NOW``."""

    def make(clock=lambda: NOW, **overrides):
        return TokenVerifier(kit.settings(**overrides), clock=clock)

    return make


def mint_at(kit: AuthKit, **kwargs):
    """A token whose times are relative to ``NOW``."""
    claims = {"iat": int(NOW), "exp": int(NOW + 300), **kwargs.pop("claims", {})}
    return kit.mint(claims=claims, **kwargs)


def test_verify_valid_token_returns_claims(kit, verifier):
    claims = verifier().verify(mint_at(kit, sub="alice", scopes=["read:transactions"]))
    assert claims["sub"] == "alice"
    assert claims["scope"] == "read:transactions"
    assert claims["iss"] == kit.issuer


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "a.b",
        "a.b.c.d",
        "....",
        "eyJhbGciOiJSUzI1NiJ9..",
        "e30.e30.",
        "e30=.e30.c2ln",
        "e30.e30.c2ln=",
        "e+0.e30.c2ln",
        "e/0.e30.c2ln",
        "eyJhb.e30.c2ln",
        "a.e30.c2ln",
    ],
)
def test_verify_not_a_compact_jws_is_invalid_token(verifier, token):
    with pytest.raises(InvalidTokenError) as caught:
        verifier().verify(token)
    assert type(caught.value) is InvalidTokenError


VALID_HEADER = {"alg": "RS256", "typ": "JWT", "kid": "test-key-1"}


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        (b"not json", None),
        (b"[1, 2]", None),
        (b'"a string"', None),
        (b"42", None),
        (b"null", None),
        (b"\xff\xfe{}", None),
        (b'{"alg": "RS256", "alg": "RS256", "kid": "test-key-1"}', None),
        (None, b"[]"),
        (None, b'"sub"'),
        (None, b"3.14"),
        (None, b'{"sub": "a", "exp": NaN}'),
        (None, b'{"sub": "a", "exp": Infinity}'),
        (None, b'{"sub": "a", "sub": "b"}'),
        (None, b'{"sub": "a", "exp": ' + b"9" * 5000 + b"}"),
        (None, b"[" * 5000 + b"]" * 5000),
        (None, '{"sub": "caf\u00e9"}'.encode("latin-1")),
    ],
)
def test_verify_header_or_payload_not_a_json_object_is_invalid_token(
    kit, verifier, header, payload
):
    body = payload if payload is not None else kit.claims()
    token = kit.mint_raw(header if header is not None else VALID_HEADER, body, alg="RS256")
    with pytest.raises(InvalidTokenError) as caught:
        verifier().verify(token)
    assert type(caught.value) is InvalidTokenError


@pytest.mark.parametrize(
    "headers",
    [
        {"alg": "none"},
        {"alg": "None"},
        {"alg": "NONE"},
        {"alg": "HS256"},
        {"alg": "RS384"},
        {"alg": "rs256"},
        {"alg": OMIT},
        {"alg": ["RS256"]},
        {"kid": OMIT},
        {"kid": ""},
        {"kid": 7},
        {"typ": "JWS"},
        {"typ": "dpop+jwt"},
        {"typ": "application/jose"},
        {"typ": "application/jwt+x"},
        {"typ": "secevent+jwt"},
        {"typ": 1},
        {"typ": None},
        {"typ": ""},
        {"crit": ["exp"]},
        {"crit": []},
        {"cty": "JWT"},
        {"cty": "jwt"},
        {"cty": "application/json"},
        {"cty": None},
    ],
)
def test_verify_refused_jose_header(kit, verifier, headers):
    token = mint_at(kit, headers=headers)
    with pytest.raises(InvalidTokenError) as caught:
        verifier().verify(token)
    assert type(caught.value) is InvalidTokenError


def test_verify_alg_none_unsigned_is_refused(kit, verifier):
    token = kit.mint_raw({"alg": "none", "typ": "JWT", "kid": "test-key-1"}, kit.claims())
    with pytest.raises(InvalidTokenError):
        verifier().verify(token)


@pytest.mark.parametrize(
    "typ",
    [
        OMIT,
        "JWT",
        "jwt",
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "application/at+JWT",
        "Application/JWT",
    ],
)
def test_verify_accepted_typ(kit, verifier, typ):
    assert verifier().verify(mint_at(kit, headers={"typ": typ}))["sub"] == "user-1"


@pytest.mark.parametrize("typ", [OMIT, "JWT", "application/jwt"])
def test_verify_strict_mode_requires_at_jwt(kit, verifier, typ):
    with pytest.raises(InvalidTokenError):
        verifier(auth_strict_rfc9068=True).verify(mint_at(kit, headers={"typ": typ}))


@pytest.mark.parametrize("typ", ["at+jwt", "application/AT+JWT"])
def test_verify_strict_mode_accepts_at_jwt(kit, verifier, typ):
    token = mint_at(kit, headers={"typ": typ})
    assert verifier(auth_strict_rfc9068=True).verify(token)["sub"] == "user-1"


@pytest.mark.parametrize("claim", ["iat", "jti", "client_id"])
def test_verify_strict_mode_requires_rfc9068_claims(kit, verifier, claim):
    token = mint_at(kit, headers={"typ": "at+jwt"}, claims={claim: OMIT})
    with pytest.raises(InvalidClaimsError):
        verifier(auth_strict_rfc9068=True).verify(token)


def test_verify_unknown_kid_is_invalid_token(kit, verifier):
    with pytest.raises(InvalidTokenError):
        verifier().verify(mint_at(kit, kid="not-published"))


def test_verify_other_key_with_same_kid_is_invalid_token(kit, verifier):
    with pytest.raises(InvalidTokenError):
        verifier().verify(mint_at(kit, key=kit.other_key()))


def test_verify_tampered_payload_is_invalid_token(kit, verifier):
    header, _, signature = mint_at(kit).split(".")
    forged = b64url(json.dumps(kit.claims(sub="admin")).encode())
    with pytest.raises(InvalidTokenError):
        verifier().verify(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("form", ["pem", "jwk"])
def test_verify_hs256_signed_with_public_key_is_refused(kit, verifier, form):
    with pytest.raises(InvalidTokenError):
        verifier().verify(kit.mint_hs256_with_public_key(form))


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c"])
@pytest.mark.parametrize("kid", ["test-key-1", "attacker"])
def test_verify_embedded_key_headers_are_never_used(kit, verifier, jwks, member, kid):
    attacker = kit.other_key()
    values = {
        "jwk": public_jwk(attacker, kid),
        "jku": "https://attacker.example.com/jwks.json",
        "x5u": "https://attacker.example.com/cert.pem",
        "x5c": ["MIIBfake"],
    }
    token = mint_at(kit, key=attacker, kid=kid, headers={member: values[member]})
    with pytest.raises(InvalidTokenError):
        verifier().verify(token)
    assert all(call.request.url == kit.jwks_url for call in jwks.calls)


@pytest.mark.parametrize(
    ("jwk_extra", "algorithms"),
    [
        ({"use": "enc"}, ("RS256",)),
        ({"key_ops": ["encrypt"]}, ("RS256",)),
        ({"key_ops": ["sign"]}, ("RS256",)),
        ({"key_ops": "verify"}, ("RS256",)),
        ({"alg": "RS384"}, ("RS256", "RS384")),
        ({"alg": "PS256"}, ("RS256", "PS256")),
        ({"use": None}, ("RS256",)),
        ({"key_ops": None}, ("RS256",)),
        ({"alg": None}, ("RS256",)),
    ],
)
def test_verify_key_not_bound_to_the_token_is_refused(kit, verifier, jwk_extra, algorithms):
    kit.add_key("bound", kit.key, **jwk_extra)
    token = mint_at(kit, kid="bound")
    with pytest.raises(InvalidTokenError):
        verifier(auth_algorithms=algorithms).verify(token)


@pytest.mark.parametrize(
    "jwk_extra",
    [{"use": "sig"}, {"use": OMIT}, {"key_ops": ["verify"]}, {"alg": OMIT}, {"alg": "RS256"}],
)
def test_verify_key_binding_accepted(kit, verifier, jwk_extra):
    kit.add_key("bound", kit.key, **jwk_extra)
    assert verifier().verify(mint_at(kit, kid="bound"))["sub"] == "user-1"


def test_verify_duplicate_kid_in_jwks_is_invalid_token(kit, verifier):
    kit.add_key("test-key-1", kit.other_key())
    with pytest.raises(InvalidTokenError):
        verifier().verify(mint_at(kit))


@pytest.mark.parametrize(
    "unusable",
    [
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "RSA", "n": 5, "e": "AQAB"},
        "small-rsa",
    ],
)
def test_verify_kid_shared_with_an_unusable_jwk_is_invalid_token(kit, unusable):
    # SPEC §3 step 3: exactly one JWKS entry with that kid, usable or not.
    if unusable == "small-rsa":
        unusable = public_jwk(generate_rsa_key(1024), "x")
    published = [{**unusable, "kid": "test-key-1"}, *kit.jwks()["keys"]]
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, json={"keys": published})
        with pytest.raises(InvalidTokenError):
            TokenVerifier(kit.settings(), clock=lambda: NOW).verify(mint_at(kit))


def test_verify_unusable_jwk_with_another_kid_is_skipped(kit):
    published = [{"kty": "oct", "k": "c2VjcmV0", "kid": "hs"}, *kit.jwks()["keys"]]
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, json={"keys": published})
        assert TokenVerifier(kit.settings(), clock=lambda: NOW).verify(mint_at(kit))


def test_verify_ec_key_for_rsa_alg_is_refused(kit, verifier):
    ec_key = generate_ec_key("ES256")
    kit.add_key("ec", ec_key, alg=OMIT)
    token = mint_at(kit, kid="ec", key=kit.key)
    with pytest.raises(InvalidTokenError):
        verifier(auth_algorithms=("RS256", "ES256")).verify(token)


def test_verify_curve_mismatch_is_refused(kit, verifier):
    kit.add_key("p384", generate_ec_key("ES384"), alg=OMIT)
    token = mint_at(kit, kid="p384", alg="ES256", key=generate_ec_key("ES256"))
    with pytest.raises(InvalidTokenError):
        verifier(auth_algorithms=("ES256", "ES384")).verify(token)


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "PS384", "PS512"])
def test_verify_other_rsa_algorithms_when_configured(kit, verifier, alg):
    kit.add_key("multi", kit.key, alg=OMIT)
    token = mint_at(kit, kid="multi", alg=alg)
    assert verifier(auth_algorithms=(alg,)).verify(token)["sub"] == "user-1"


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_verify_ec_algorithms_when_configured(kit, verifier, alg):
    key = generate_ec_key(alg)
    kit.add_key("ec", key, alg=alg)
    assert verifier(auth_algorithms=(alg,)).verify(mint_at(kit, kid="ec", alg=alg, key=key))


def test_verify_pss_signature_is_not_accepted_as_pkcs1(kit, verifier):
    token = mint_at(kit, alg="PS256")
    _, payload, signature = token.split(".")
    relabelled = b64url(json.dumps(VALID_HEADER).encode())
    with pytest.raises(InvalidTokenError):
        verifier(auth_algorithms=("RS256", "PS256")).verify(f"{relabelled}.{payload}.{signature}")


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"iss": "https://evil.example.com/"}, InvalidClaimsError),
        ({"iss": "https://cashman-test.example.com"}, InvalidClaimsError),
        ({"iss": "https://cashman-test.example.com//"}, InvalidClaimsError),
        ({"iss": OMIT}, InvalidClaimsError),
        ({"iss": ["https://cashman-test.example.com/"]}, InvalidClaimsError),
        ({"aud": "https://other.api"}, InvalidClaimsError),
        ({"aud": OMIT}, InvalidClaimsError),
        ({"aud": ["https://other.api"]}, InvalidClaimsError),
        ({"aud": []}, InvalidClaimsError),
        ({"aud": 1}, InvalidClaimsError),
        ({"aud": ["https://api.cashman.test", 1]}, InvalidClaimsError),
        ({"exp": OMIT}, InvalidClaimsError),
        ({"exp": int(NOW) - 31}, TokenExpiredError),
        ({"exp": int(NOW) - 30}, TokenExpiredError),
        ({"exp": "1750000300"}, InvalidClaimsError),
        ({"exp": None}, InvalidClaimsError),
        ({"exp": [1750000300]}, InvalidClaimsError),
        ({"exp": True}, InvalidClaimsError),
        ({"exp": 10**20}, InvalidClaimsError),
        ({"exp": 1e300}, InvalidClaimsError),
        ({"exp": -1}, InvalidClaimsError),
        ({"exp": {"value": 1}}, InvalidClaimsError),
        ({"nbf": int(NOW) + 31}, InvalidClaimsError),
        ({"nbf": "0"}, InvalidClaimsError),
        ({"iat": int(NOW) + 31}, InvalidClaimsError),
        ({"iat": None}, InvalidClaimsError),
        ({"iat": False}, InvalidClaimsError),
        ({"sub": OMIT}, InvalidClaimsError),
        ({"sub": ""}, InvalidClaimsError),
        ({"sub": "x" * 256}, InvalidClaimsError),
        ({"sub": "a\nb"}, InvalidClaimsError),
        ({"sub": "a\x00"}, InvalidClaimsError),
        ({"sub": "a\x7f"}, InvalidClaimsError),
        ({"sub": "a\u0085"}, InvalidClaimsError),
        ({"sub": "\ud800x"}, InvalidClaimsError),
        ({"sub": "a\ud83d"}, InvalidClaimsError),
        ({"sub": "\udfff"}, InvalidClaimsError),
        ({"sub": 12}, InvalidClaimsError),
        ({"sub": ["a"]}, InvalidClaimsError),
        ({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}, InvalidTokenError),
    ],
)
def test_verify_refused_claims(kit, verifier, claims, error):
    with pytest.raises(AuthError) as caught:
        verifier().verify(mint_at(kit, claims=claims))
    assert type(caught.value) is error


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": ["https://other.api", "https://api.cashman.test"]},
        {"exp": int(NOW) - 29},
        {"exp": NOW + 0.5},
        {"nbf": int(NOW) + 29},
        {"iat": int(NOW) + 29},
        {"nbf": OMIT, "iat": OMIT},
        {"sub": "x" * 255},
        {"sub": "auth0|5f7c8ec7c33c6c004bbafe82"},
        {"sub": "usér ünïcode"},
        {"sub": "emoji-\U0001f600"},
        {"jti": OMIT, "client_id": OMIT},
    ],
)
def test_verify_accepted_claims(kit, verifier, claims):
    assert verifier().verify(mint_at(kit, claims=claims))["iss"] == kit.issuer


def test_verify_leeway_zero_is_exact(kit, verifier):
    token = mint_at(kit, claims={"exp": int(NOW) - 1})
    with pytest.raises(TokenExpiredError):
        verifier(auth_leeway=0).verify(token)


def test_verify_real_clock_default(kit, jwks):
    verifier = TokenVerifier(kit.settings())
    assert verifier.verify(kit.mint())["sub"] == "user-1"
    with pytest.raises(TokenExpiredError):
        verifier.verify(kit.mint(expires_in=-3600))
    assert time.time() > NOW


def test_verify_unconfigured_issuer_does_not_fetch(kit, jwks, verifier):
    with pytest.raises(InvalidClaimsError):
        verifier().verify(mint_at(kit, claims={"iss": "https://other-tenant.example.com/"}))
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


def test_verify_signature_segment_base64_variants_refused(kit, verifier):
    header, payload, signature = mint_at(kit).split(".")
    with pytest.raises(InvalidTokenError):
        verifier().verify(f"{header}.{payload}.{signature}=")
    with pytest.raises(InvalidTokenError):
        verifier().verify(f"{header}.{payload}.{b64url(b'short')}")


def test_verify_header_memo_keeps_only_accepted_headers(kit, verifier):
    v = verifier()
    v.verify(mint_at(kit))
    with pytest.raises(InvalidTokenError):
        v.verify(mint_at(kit, headers={"alg": "HS256"}))
    assert len(v._header_memo) == 1
    with pytest.raises(InvalidTokenError):
        v.verify(mint_at(kit, headers={"alg": "HS256"}))


def test_verify_header_memo_is_bounded(kit, verifier):
    from auth.verify import HEADER_MEMO_SIZE

    v = verifier()
    for i in range(HEADER_MEMO_SIZE + 10):
        v.verify(mint_at(kit, headers={"x-n": i}))
    assert len(v._header_memo) == HEADER_MEMO_SIZE


@pytest.mark.parametrize(
    "make_token",
    [
        lambda signed, kit: "é.a.b",
        lambda signed, kit: "a.b.é",
        lambda signed, kit: "é",
        lambda signed, kit: "\x00",
        lambda signed, kit: "a.b.\x00",
        lambda signed, kit: "\ud800.a.b",
        lambda signed, kit: "a.b.\udcff",
        lambda signed, kit: "...",
        lambda signed, kit: "",
        lambda signed, kit: " ",
        lambda signed, kit: "a" * 100_000,
        lambda signed, kit: "." * 100_000,
        lambda signed, kit: "e30." * 25_000,
        lambda signed, kit: signed + "é",
        lambda signed, kit: "é" + signed,
        lambda signed, kit: signed + "\x00",
        lambda signed, kit: signed + " ",
        lambda signed, kit: mint_at(kit, claims={"pad": "x" * 100_000}),
        lambda signed, kit: None,
        lambda signed, kit: signed.encode("ascii"),
        lambda signed, kit: 42,
    ],
)
@pytest.mark.parametrize("token_cache_size", [4096, 0])
def test_verify_called_directly_with_odd_input_is_invalid_token(
    kit, verifier, make_token, token_cache_size
):
    # verify() is public: a caller may skip parse_bearer, so it refuses any input itself.
    v = verifier(token_cache_size=token_cache_size)
    token = make_token(mint_at(kit), kit)
    with pytest.raises(InvalidTokenError) as caught:
        v.verify(token)
    assert type(caught.value) is InvalidTokenError


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1E400", "9" * 400])
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_verify_huge_json_number_time_claim_is_invalid_claims(kit, verifier, claim, number):
    payload = json.dumps({**kit.claims(now=NOW), claim: "HUGE"}).replace('"HUGE"', number)
    token = kit.mint_raw(VALID_HEADER, payload.encode(), alg="RS256")
    with pytest.raises(AuthError) as caught:
        verifier().verify(token)
    assert type(caught.value) is InvalidClaimsError


@pytest.mark.parametrize(("offset", "accepted"), [(30, True), (31, False)])
@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_verify_future_claim_leeway_boundary(kit, verifier, claim, offset, accepted):
    token = mint_at(kit, claims={claim: int(NOW) + offset})
    if accepted:
        assert verifier(auth_leeway=30).verify(token)["sub"] == "user-1"
    else:
        with pytest.raises(InvalidClaimsError):
            verifier(auth_leeway=30).verify(token)
