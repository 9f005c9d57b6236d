"""Hostile but correctly signed claims, through the whole Cashman app: never a 500.

A claim the app carries into the database, the log or a response must be a
string that encodes as UTF-8; a lone UTF-16 surrogate (a JSON ``\\udXXX``
escape with no partner) does not, so such a token is ``invalid_claims``.
"""

from __future__ import annotations

import pytest

from tests.conftest import READ, WRITE

LONE_SURROGATES = ["\ud800x", "\udfff", "a\ud83d", "\udc00b"]
ENDPOINTS = [
    ("get", "/incomes"),
    ("get", "/balance"),
    ("get", "/secured/ping"),
    ("post", "/incomes"),
]


@pytest.mark.parametrize("sub", LONE_SURROGATES)
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_app_sub_with_lone_surrogate_is_invalid_claims(client, bearer, sub, method, path):
    body = {"description": "salary", "amount": 10} if method == "post" else None
    resp = getattr(client, method)(path, headers=bearer(sub=sub), json=body)
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_claims")


@pytest.mark.parametrize("iss", ["https://cashman-test.example.com/\ud800"])
def test_app_iss_with_lone_surrogate_is_invalid_claims(client, bearer, iss):
    resp = client.get("/incomes", headers=bearer(iss=iss))
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_claims")


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": f"{READ}\ud800 {WRITE}\udfff"},
        {"scope": "\ud800", "permissions": [f"{READ}\ud800", "\udfff"]},
    ],
)
def test_app_scopes_with_lone_surrogates_grant_nothing(client, bearer, claims):
    resp = client.get("/incomes", headers=bearer(scopes=(), **claims))
    assert (resp.status_code, resp.json["code"]) == (403, "insufficient_scope")


def test_app_sub_with_surrogate_pair_is_one_character_and_accepted(client, bearer):
    # "\ud83d\ude00" in JSON is one astral character (U+1F600), valid UTF-8.
    headers = bearer(sub="user-\U0001f600")
    created = client.post("/incomes", headers=headers, json={"description": "x", "amount": 1})
    assert created.status_code == 201
    assert [row["id"] for row in client.get("/incomes", headers=headers).json] == [
        created.json["id"]
    ]
