"""``parse_authorization``: RFC 6750 §2.1 and RFC 9449 §7.1 grammar, 400 vs 401, size limit."""

from __future__ import annotations

import pytest

from auth.bearer import MAX_TOKEN_LENGTH, names_scheme, parse_authorization, parse_bearer
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
    [[], ["Basic dXNlcjpwYXNz"], ["Token abc"], ["Bearerabc"], ["Digest x=y"]],
)
def test_parse_bearer_missing_or_other_scheme_is_401(values):
    with pytest.raises(AuthorizationHeaderMissingError):
        parse_bearer(values)


@pytest.mark.parametrize(
    "value",
    [
        "",  # RFC 9110 §11.6.2: an empty field has no auth-scheme; a server's blank too
        "   ",
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
        "Basic YTpi, Basic YzpK",  # two fields of another scheme, joined (RFC 9110 §5.3)
        "Basic x,Token y",
        "Basic x, Bearerish y",
        'Digest username="a", realm="b", Basic x',
        "Basic YTpi=, Basic YzpK==",  # token68 padding is not a parameter's "="
        "Basic x,\tToken y",
        ", Bearer abc",  # an empty field, then a Bearer one
        ",Basic x",  # an empty field, then another scheme's
        ",",
    ],
)
def test_parse_bearer_joined_headers_of_other_schemes_are_400(value):
    with pytest.raises(InvalidHeaderError):
        parse_bearer([value])


@pytest.mark.parametrize(
    "value",
    [
        'Digest username="a", realm="b"',
        'Digest username="a",realm="b", nonce="c"',
        'Digest username="a", bearer="b"',
        'Digest username="a, Basic b", realm="c"',  # the comma is inside a quoted string
        'Digest username="a", realm = "b"',  # BWS around a parameter's "="
        "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host;x-amz-date, Signature=ff",
        "Basic x, Negotiate",  # a bare token is not taken for a scheme (but Bearer is)
        "Basic x, , y",  # an empty list element inside (RFC 9110 §5.6.1)
        "Basic x,",  # ...or last: one field's, or an empty one joined after it
        "Basic x, ,",
        'Digest username="a",',
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
        ([("Authorization", "Basic x"), ("Authorization", "Token y")], 400, "invalid_header"),
        ([("Authorization", "Basic YTpi"), ("Authorization", "Basic YzpK")], 400, "invalid_header"),
        ([("Authorization", ""), ("Authorization", "Bearer b")], 400, "invalid_header"),
        ([("Authorization", " "), ("Authorization", "Basic x")], 400, "invalid_header"),
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


# -- the DPoP scheme (RFC 9449 §7.1): same grammar, same limit, same 400s --------------------

BOTH = ("Bearer", "DPoP")


@pytest.mark.parametrize(
    ("value", "credentials"),
    [
        ("Bearer abc.def.ghi", ("Bearer", "abc.def.ghi")),
        ("DPoP abc.def.ghi", ("DPoP", "abc.def.ghi")),
        ("dpop abc", ("DPoP", "abc")),
        ("DPOP   abc", ("DPoP", "abc")),
        (" dPoP a-b.c_d~e+f/g== ", ("DPoP", "a-b.c_d~e+f/g==")),
        ("DPoP " + "a" * MAX_TOKEN_LENGTH, ("DPoP", "a" * MAX_TOKEN_LENGTH)),
    ],
)
def test_parse_authorization_gives_scheme_and_token(value, credentials):
    assert parse_authorization([value], BOTH) == credentials


@pytest.mark.parametrize(
    "value",
    [
        "DPoP",
        "DPoP ",
        "DPoP a b",
        "DPoP\tabc",
        "DPoP a,b",
        "DPoP a$b",
        "DPoP abcé",
        "DPoP:abc",
        "DPoP " + "a" * (MAX_TOKEN_LENGTH + 1),
        "DPoP a, DPoP b",
        "DPoP a, Bearer b",
    ],
)
def test_parse_authorization_dpop_grammar_violation_is_400_of_the_dpop_scheme(value):
    with pytest.raises(InvalidHeaderError) as caught:
        parse_authorization([value], BOTH)
    assert caught.value.scheme == "DPoP"


@pytest.mark.parametrize(
    "value",
    ["Basic x,DPoP abc", "Basic x, dpop abc", "Token a,Digest b,DPoP abc", "Bearer a, DPoP b"],
)
def test_parse_authorization_joined_headers_with_a_dpop_part_are_400(value):
    with pytest.raises(InvalidHeaderError):
        parse_authorization([value], BOTH)


def test_parse_authorization_two_headers_are_400_of_no_one_scheme():
    with pytest.raises(InvalidHeaderError) as caught:
        parse_authorization(["DPoP abc", "Bearer abc"], BOTH)
    assert caught.value.scheme is None


@pytest.mark.parametrize(
    ("value", "schemes"),
    [
        ("DPoP abc", ("Bearer",)),  # AUTH_DPOP=off: DPoP is an unsupported scheme
        ("DPoP a b", ("Bearer",)),
        ("Bearer abc", ("DPoP",)),  # AUTH_DPOP=required: Bearer is, whatever the token
        ("Bearer", ("DPoP",)),
        ("Bearer a$b", ("DPoP",)),
        ("DPoPx abc", BOTH),
        ('Digest dpop="a", bearer="b"', BOTH),
    ],
)
def test_parse_authorization_scheme_not_accepted_is_401_without_error(value, schemes):
    with pytest.raises(AuthorizationHeaderMissingError):
        parse_authorization([value], schemes)


@pytest.mark.parametrize(
    ("value", "schemes"),
    [
        # SPEC §3a step 2: the scheme the mode refuses is a 401 "whatever the token"
        ("Bearer a,b", ("DPoP",)),
        ("Bearer abc, def", ("DPoP",)),
        ("Bearer abc,", ("DPoP",)),
        ("DPoP a,b", ("Bearer",)),
    ],
)
def test_parse_authorization_refused_scheme_with_a_comma_in_its_token_is_401(value, schemes):
    with pytest.raises(AuthorizationHeaderMissingError):
        parse_authorization([value], schemes)


@pytest.mark.parametrize(
    ("value", "schemes"),
    [("Bearer a, DPoP b", ("DPoP",)), ("DPoP a,Bearer b", ("Bearer",))],
)
def test_parse_authorization_joined_accepted_scheme_is_400_even_after_an_unaccepted_one(
    value, schemes
):
    with pytest.raises(InvalidHeaderError):
        parse_authorization([value], schemes)


@pytest.mark.parametrize(
    ("values", "scheme", "named"),
    [
        (["DPoP abc"], "DPoP", True),
        (["dpop abc"], "DPoP", True),
        ([" DPOP"], "DPoP", True),  # only the scheme: still the one the client chose
        (["DPoP a$b"], "DPoP", True),  # a grammar the credentials check refuses
        (["Bearer abc"], "DPoP", False),
        (["DPoPx abc"], "DPoP", False),
        (["Basic DPoP"], "DPoP", False),
        (["DPoP a", "DPoP b"], "DPoP", False),  # two fields: no one scheme
        ([], "DPoP", False),
        (["bearer abc"], "Bearer", True),
        (["DPoP abc"], "Bearer", False),
    ],
)
def test_names_scheme_reads_only_the_scheme(values, scheme, named):
    assert names_scheme(values, scheme) is named
