"""``auth.claims``: each claim rule of SPEC §3 step 5, and RFC 9068's in strict mode.

Unit tests of ``check_claims`` and the per-claim functions, then every rule
through the verifier with a token that breaks exactly that one. Numbers past
the interpreter's integer digit limit are judged as the NumericDates they are
not (issue 9): ``invalid_claims``, never "not a JWS".
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from auth.claims import MAX_NUMERIC_DATE, check_claims, numeric_date
from auth.errors import AuthError, InvalidClaimsError, InvalidTokenError, TokenExpiredError
from auth.testing import OMIT, AuthKit
from tests.auth.clocks import NOW

VALID_HEADER = {"alg": "RS256", "typ": "JWT", "kid": "test-key-1"}


@pytest.fixture
def settings(kit: AuthKit):
    return kit.settings()


def test_check_claims_returns_exp_plus_leeway(kit, settings):
    claims = kit.claims(now=NOW)
    assert check_claims(claims, settings, NOW) == claims["exp"] + settings.auth_leeway


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        # Form first, time last: a malformed token is invalid_claims even when expired.
        ({"exp": int(NOW) - 3600, "sub": ""}, InvalidClaimsError),
        ({"exp": int(NOW) - 3600, "nbf": "soon"}, InvalidClaimsError),
        ({"exp": int(NOW) - 3600, "nbf": int(NOW) + 3600}, InvalidClaimsError),
        ({"exp": int(NOW) - 3600}, TokenExpiredError),
    ],
)
def test_check_claims_precedence(kit, settings, changes, error):
    with pytest.raises(AuthError) as caught:
        check_claims({**kit.claims(now=NOW), **changes}, settings, NOW)
    assert type(caught.value) is error


JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


@pytest.mark.parametrize(
    "changes",
    [
        # A key-bound token is refused as a Bearer token whatever else it holds.
        {"cnf": {"jkt": JKT}, "exp": int(NOW) - 3600},
        {"cnf": {"jkt": JKT}, "sub": ""},
        {"cnf": {"jkt": JKT}, "aud": "https://other.api"},
    ],
)
def test_verify_bearer_refuses_cnf_before_other_claims(mint_at, verifier, changes):
    with pytest.raises(AuthError) as caught:
        verifier().verify(mint_at(claims=changes))
    assert type(caught.value) is InvalidTokenError


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        # Under DPoP every claim of SPEC §3 comes first, then cnf.jkt (SPEC §3a step 2).
        ({"exp": int(NOW) - 3600}, TokenExpiredError),
        ({"cnf": {"jkt": JKT}, "exp": int(NOW) - 3600}, TokenExpiredError),
        ({"aud": "https://other.api"}, InvalidClaimsError),
        ({}, InvalidTokenError),
        ({"cnf": {"jkt": JKT, "x5t#S256": "abc"}}, InvalidTokenError),
        ({"cnf": {"x5t#S256": "abc"}}, InvalidTokenError),
        ({"cnf": {"jkt": 12}}, InvalidTokenError),
        ({"cnf": {"jkt": ""}}, InvalidTokenError),
        ({"cnf": "jkt"}, InvalidTokenError),
    ],
)
def test_verify_bound_checks_claims_then_cnf_jkt(mint_at, verifier, changes, error):
    with pytest.raises(AuthError) as caught:
        verifier().verify(mint_at(claims=changes), bound=True)
    assert type(caught.value) is error


def test_verify_bound_returns_the_claims_with_cnf(mint_at, verifier):
    claims = verifier().verify(mint_at(claims={"cnf": {"jkt": JKT}}), bound=True)
    assert claims["cnf"] == {"jkt": JKT}


def test_verify_cached_token_still_checks_the_binding_of_each_scheme(mint_at, verifier):
    check = verifier()
    bound = mint_at(claims={"cnf": {"jkt": JKT}})
    plain = mint_at()
    assert check.verify(bound, bound=True)["cnf"] == {"jkt": JKT}
    with pytest.raises(InvalidTokenError):
        check.verify(bound)  # served by the verified-token cache, still refused as Bearer
    assert check.verify(plain)["sub"] == "user-1"
    with pytest.raises(InvalidTokenError):
        check.verify(plain, bound=True)  # cached Bearer token: no cnf.jkt for DPoP


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        (-0.0, 0.0),
        (1750000000, 1750000000.0),
        (1750000000.5, 1750000000.5),
        (MAX_NUMERIC_DATE, float(MAX_NUMERIC_DATE)),
    ],
)
def test_numeric_date_accepted(value, expected):
    assert numeric_date({"exp": value}, "exp") == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        "1750000000",
        [1],
        {},
        -1,
        MAX_NUMERIC_DATE + 1,
        10**4299,
        math.inf,
        -math.inf,
        math.nan,
    ],
)
def test_numeric_date_refused(value):
    with pytest.raises(InvalidClaimsError):
        numeric_date({"exp": value}, "exp")


def test_numeric_date_absent_is_none():
    assert numeric_date({}, "nbf") is None


def test_strict_mode_checks_rfc9068_claims_directly(kit, settings):
    strict = replace(settings, auth_strict_rfc9068=True)
    claims = kit.claims(now=NOW)
    check_claims(claims, strict, NOW)
    with pytest.raises(InvalidClaimsError):
        check_claims({**claims, "client_id": ""}, strict, NOW)


@pytest.mark.parametrize("claim", ["iat", "jti", "client_id"])
def test_verify_strict_mode_requires_rfc9068_claims(mint_at, verifier, claim):
    token = mint_at(headers={"typ": "at+jwt"}, claims={claim: OMIT})
    with pytest.raises(InvalidClaimsError):
        verifier(auth_strict_rfc9068=True).verify(token)


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
def test_verify_refused_claims(mint_at, verifier, claims, error):
    with pytest.raises(AuthError) as caught:
        verifier().verify(mint_at(claims=claims))
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
def test_verify_accepted_claims(kit, mint_at, verifier, claims):
    assert verifier().verify(mint_at(claims=claims))["iss"] == kit.issuer


def test_verify_leeway_zero_is_exact(mint_at, verifier):
    token = mint_at(claims={"exp": int(NOW) - 1})
    with pytest.raises(TokenExpiredError):
        verifier(auth_leeway=0).verify(token)


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
def test_verify_future_claim_leeway_boundary(mint_at, verifier, claim, offset, accepted):
    token = mint_at(claims={claim: int(NOW) + offset})
    if accepted:
        assert verifier(auth_leeway=30).verify(token)["sub"] == "user-1"
    else:
        with pytest.raises(InvalidClaimsError):
            verifier(auth_leeway=30).verify(token)


def token_with_number(kit: AuthKit, claim: str, number: str) -> str:
    """A validly signed token whose ``claim`` is the JSON number text ``number``."""
    payload = json.dumps({**kit.claims(now=NOW), claim: "NUMBER"}).replace('"NUMBER"', number)
    return kit.mint_raw(VALID_HEADER, payload.encode(), alg="RS256")


@pytest.mark.parametrize(
    "number",
    [
        "1" + "0" * 4299,  # 4300 digits: the last the interpreter converts
        "1" * 4301,  # one past it: was "not JSON", an invalid_token
        "9" * 5000,
        "-" + "9" * 5000,
        "1" * 5500,  # about the longest that fits an 8 KiB token
    ],
    ids=lambda number: f"{len(number.lstrip('-'))} digits{' negative' if number[0] == '-' else ''}",
)
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_verify_time_claim_past_the_interpreter_digit_limit_is_invalid_claims(
    kit, verifier, claim, number
):
    with pytest.raises(AuthError) as caught:
        verifier().verify(token_with_number(kit, claim, number))
    assert type(caught.value) is InvalidClaimsError


@pytest.mark.parametrize(("claim", "number"), [("aud", "1" * 4301), ("sub", "-" + "1" * 4400)])
def test_verify_other_claim_past_the_interpreter_digit_limit_is_invalid_claims(
    kit, verifier, claim, number
):
    with pytest.raises(AuthError) as caught:
        verifier().verify(token_with_number(kit, claim, number))
    assert type(caught.value) is InvalidClaimsError


@pytest.mark.parametrize("number", ["1" * 4301, "-" + "1" * 5000, "1e400", "-0"])
def test_verify_unknown_claim_past_the_interpreter_digit_limit_is_ignored(kit, verifier, number):
    # A claim nobody checks means nothing here: the token is valid (RFC 7519 §4).
    claims = verifier().verify(token_with_number(kit, "x-custom", number))
    assert claims["sub"] == "user-1"


@pytest.mark.parametrize("claim", ["cnf", "scope"])
def test_verify_huge_number_does_not_change_the_code_of_other_claims(kit, verifier, claim):
    token = token_with_number(kit, claim, "1" * 4301)
    if claim == "cnf":
        with pytest.raises(AuthError) as caught:
            verifier().verify(token)
        assert type(caught.value) is InvalidTokenError  # cnf present: refused as Bearer
    else:
        assert verifier().verify(token)["scope"] == math.inf  # what the view would see
