"""``parse_bearer``: RFC 6750 §2.1 grammar, 400 vs 401, size limit."""

from __future__ import annotations

import pytest

from auth.bearer import MAX_TOKEN_LENGTH, parse_bearer
from auth.errors import AuthorizationHeaderMissingError, InvalidHeaderError

MISSING = "authorization_header_missing"


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("bEaReR abc", "abc"),
        ("Bearer    abc", "abc"),
        ("Bearer a-b.c_d~e+f/g==", "a-b.c_d~e+f/g=="),
        ("Bearer abc ", "abc"),
        (" Bearer abc", "abc"),
        ("Bearer " + "a" * MAX_TOKEN_LENGTH, "a" * MAX_TOKEN_LENGTH),
    ],
)
def test_parse_bearer_accepts_grammar(value, token):
    assert parse_bearer([value]) == token


@pytest.mark.parametrize(
    "values",
    [[], [""], ["   "], ["Basic dXNlcjpwYXNz"], ["Token abc"], ["Bearerabc"], ["Digest x=y"]],
)
def test_parse_bearer_missing_or_other_scheme_is_401(values):
    with pytest.raises(AuthorizationHeaderMissingError):
        parse_bearer(values)


@pytest.mark.parametrize(
    "value",
    [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer\tabc",
        "Bearer \tabc",
        "Bearer abc\tdef",
        "Bearer a,b",
        "Bearer a=b",
        "Bearer =abc",
        "Bearer a$b",
        'Bearer a"b',
        "Bearer ab\x00c",
        "Bearer abcé",
        "Bearer abc€",
        "Bearer:abc",
        "Bearer " + "a" * (MAX_TOKEN_LENGTH + 1),
        "Bearer a, Bearer b",
    ],
)
def test_parse_bearer_bad_grammar_is_400(value):
    with pytest.raises(InvalidHeaderError):
        parse_bearer([value])


def test_parse_bearer_two_headers_is_400():
    with pytest.raises(InvalidHeaderError):
        parse_bearer(["Bearer abc", "Bearer abc"])


@pytest.mark.parametrize(
    "value",
    [
        "Basic x,Bearer abc",  # gunicorn joins repeated fields with ","
        "Basic x, Bearer abc",  # werkzeug with ", "
        "Basic x,bearer abc",
        "Basic x,  BEARER abc",
        "Basic x,Bearer",
        "Token a,Digest b,Bearer abc",
        "Bearer abc,Basic x",
        "Bearer abc, Basic x",
    ],
)
def test_parse_bearer_joined_headers_with_a_bearer_is_400(value):
    with pytest.raises(InvalidHeaderError):
        parse_bearer([value])


@pytest.mark.parametrize(
    "value",
    [
        'Digest username="a", realm="b"',
        'Digest username="a",realm="b", nonce="c"',
        "Basic x,Token y",
        "Basic x, Bearerish y",
        'Digest username="a", bearer="b"',
    ],
)
def test_parse_bearer_other_scheme_with_commas_is_401(value):
    with pytest.raises(AuthorizationHeaderMissingError):
        parse_bearer([value])


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ([("Authorization", "Bearer a"), ("Authorization", "Bearer b")], 400, "invalid_header"),
        ([("Authorization", "Basic x"), ("Authorization", "Bearer b")], 400, "invalid_header"),
        ([("Authorization", "Bearer b"), ("Authorization", "Basic x")], 400, "invalid_header"),
        ([("Authorization", "Basic x"), ("Authorization", "Token y")], 401, MISSING),
        ([("Authorization", 'Digest username="a", realm="b"')], 401, MISSING),
        ([("Authorization", "Bearer\tabc")], 400, "invalid_header"),
        ([("Authorization", "Basic abc")], 401, MISSING),
    ],
)
def test_bearer_headers_through_app(api, headers, status, code):
    resp = api.get("/secured", headers=headers)
    assert (resp.status_code, resp.json["code"]) == (status, code)


def test_token_in_query_string_is_ignored(api, kit):
    resp = api.get(f"/secured?access_token={kit.mint()}")
    assert (resp.status_code, resp.json["code"]) == (401, "authorization_header_missing")


def test_token_in_form_body_is_ignored(api, kit):
    resp = api.post("/things", data={"access_token": kit.mint(scopes=["write:transactions"])})
    assert (resp.status_code, resp.json["code"]) == (401, "authorization_header_missing")
