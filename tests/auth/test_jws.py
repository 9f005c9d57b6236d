"""``auth.jws`` and ``auth.jose_json``: strict compact JWS parsing and the JOSE header rules.

Unit tests of ``parse_jws``/``parse_object``, then each rule through the verifier:
every refused token breaks exactly one rule, the rest of it is valid.
"""

from __future__ import annotations

import json
import math

import pytest

from auth.errors import InvalidTokenError
from auth.jose_json import JSONError, parse_object
from auth.jws import (
    ACCESS_TOKEN_TYPES,
    check_access_token_header,
    check_typ,
    parse_jws,
)
from auth.testing import OMIT, b64url
from tests.auth.clocks import NOW

VALID_HEADER = {"alg": "RS256", "typ": "JWT", "kid": "test-key-1"}


def test_parse_jws_returns_the_decoded_parts(kit):
    token = kit.mint(sub="alice")
    header, payload, signing_input, signature = parse_jws(token)
    header_b64, payload_b64, signature_b64 = token.split(".")
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "test-key-1"}
    assert payload["sub"] == "alice"
    assert signing_input == f"{header_b64}.{payload_b64}".encode()
    assert b64url(signature) == signature_b64


def test_parse_jws_decode_header_hook_gets_the_header_segment(kit):
    token = kit.mint()
    seen = []

    def decode_header(segment):
        seen.append(segment)
        return {"decoded": "by the hook"}

    header, *_ = parse_jws(token, decode_header=decode_header)
    assert header == {"decoded": "by the hook"}
    assert seen == [token.split(".")[0]]


@pytest.mark.parametrize("token", ["a.b", "a.b.c.d", "e30.e30.c2ln=", "e+0.e30.", "e/0.e30."])
def test_parse_jws_not_three_base64url_segments(token):
    with pytest.raises(InvalidTokenError):
        parse_jws(token)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"n": 1}', {"n": 1}),
        (b' {"n": -0} ', {"n": 0}),
        (b'{"n": -0.0}', {"n": -0.0}),
        (b'{"n": 1e400}', {"n": math.inf}),
        (b'{"n": -1e400}', {"n": -math.inf}),
        (b'{"n": 1e-400}', {"n": 0.0}),
        (b'{"n": 1' + b"0" * 4299 + b"}", {"n": 10**4299}),
        (b'{"n": -1' + b"0" * 4299 + b"}", {"n": -(10**4299)}),
    ],
)
def test_parse_object_numbers(text, expected):
    assert parse_object(text) == expected


@pytest.mark.parametrize("digits", [4301, 5000, 10000, 1024 * 1024 - 10])
@pytest.mark.parametrize(("sign", "value"), [("", math.inf), ("-", -math.inf)])
def test_parse_object_integer_past_the_interpreter_limit_is_read_by_meaning(digits, sign, value):
    # Valid JSON (RFC 8259 §6): CPython cannot make an int of it, so it is the float it
    # rounds to, as 1e400 is; the other members are untouched.
    text = b'{"n": ' + sign.encode() + b"1" * digits + b', "kid": "k", "m": 7}'
    assert parse_object(text) == {"n": value, "kid": "k", "m": 7}
    assert parse_object(text, unique_members=False) == {"n": value, "kid": "k", "m": 7}


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"null",
        b"[]",
        b'{"n": NaN}',
        b'{"n": -Infinity}',
        b'{"a": 1, "a": 2}',
        b'{"a": 1} x',
        b'{"n": ' + b"1" * 5000 + b', "a": 1, "a": 2}',
        b'{"n": ' + b"1" * 5000 + b", NaN: 1}",
        b"\xff{}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_parse_object_refuses_what_is_not_one_json_object(text):
    with pytest.raises(JSONError):
        parse_object(text)


def test_parse_object_repeated_member_last_wins_when_allowed():
    assert parse_object(b'{"a": 1, "a": 2}', unique_members=False) == {"a": 2}


@pytest.mark.parametrize(
    ("header", "strict"),
    [
        ({"alg": "RS256", "kid": "k"}, False),
        ({"alg": "RS256", "kid": "k", "typ": "application/AT+JWT"}, True),
        ({"alg": "RS256", "kid": "k", "x5u": "https://elsewhere/", "n": math.inf}, False),
    ],
)
def test_check_access_token_header_returns_alg_and_kid(header, strict):
    assert check_access_token_header(header, ("RS256",), strict_rfc9068=strict) == ("RS256", "k")


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt", "application/jwt", "Application/At+Jwt"])
def test_check_typ_media_types(typ):
    check_typ({"typ": typ}, ACCESS_TOKEN_TYPES, required=True)


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
def test_verify_refused_jose_header(mint_at, verifier, headers):
    token = mint_at(headers=headers)
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
def test_verify_accepted_typ(mint_at, verifier, typ):
    assert verifier().verify(mint_at(headers={"typ": typ}))["sub"] == "user-1"


@pytest.mark.parametrize("typ", [OMIT, "JWT", "application/jwt"])
def test_verify_strict_mode_requires_at_jwt(mint_at, verifier, typ):
    with pytest.raises(InvalidTokenError):
        verifier(auth_strict_rfc9068=True).verify(mint_at(headers={"typ": typ}))


@pytest.mark.parametrize("typ", ["at+jwt", "application/AT+JWT"])
def test_verify_strict_mode_accepts_at_jwt(mint_at, verifier, typ):
    token = mint_at(headers={"typ": typ})
    assert verifier(auth_strict_rfc9068=True).verify(token)["sub"] == "user-1"


@pytest.mark.parametrize("form", ["pem", "jwk"])
def test_verify_hs256_signed_with_public_key_is_refused(kit, verifier, form):
    with pytest.raises(InvalidTokenError):
        verifier().verify(kit.mint_hs256_with_public_key(form))


def test_verify_signature_segment_base64_variants_refused(mint_at, verifier):
    header, payload, signature = mint_at().split(".")
    with pytest.raises(InvalidTokenError):
        verifier().verify(f"{header}.{payload}.{signature}=")
    with pytest.raises(InvalidTokenError):
        verifier().verify(f"{header}.{payload}.{b64url(b'short')}")


@pytest.mark.parametrize(
    ("member", "value", "accepted"),
    [
        ("x-extension", "1" * 4301, True),  # unknown members are ignored (RFC 7515 §4)
        ("x-extension", "-1" + "0" * 5000, True),
        ("kid", "1" * 4301, False),
        ("alg", "1" * 4301, False),
        ("typ", "1" * 4301, False),
    ],
)
def test_verify_header_number_past_the_interpreter_limit_is_judged_by_meaning(
    kit, verifier, member, value, accepted
):
    # Before: "not JSON", an invalid_token whatever the member meant.
    header = json.dumps({**VALID_HEADER, member: "NUMBER"}).replace('"NUMBER"', value)
    token = kit.mint_raw(header.encode(), kit.claims(now=NOW), key=kit.key, alg="RS256")
    if accepted:
        assert verifier().verify(token)["sub"] == "user-1"
    else:
        with pytest.raises(InvalidTokenError) as caught:
            verifier().verify(token)
        assert type(caught.value) is InvalidTokenError
