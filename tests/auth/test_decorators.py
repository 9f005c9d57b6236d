"""``requires_auth`` / ``requires_scope``: scopes from ``scope`` and ``permissions``, owners,
and authentication before the body is looked at."""

from __future__ import annotations

import pytest
import responses
from flask import Flask, g

from auth import Auth, current_claims, current_owner, requires_auth, requires_scope
from auth.testing import AuthKit
from tests.auth.minimal_app import READ, WRITE, build_app


@pytest.mark.parametrize(
    ("mint_args", "status"),
    [
        ({"scopes": [READ]}, 200),
        ({"scopes": ["openid", READ, "profile"]}, 200),
        ({"permissions": [READ]}, 200),
        ({"scopes": ["openid"], "permissions": [READ]}, 200),
        ({"scopes": [WRITE]}, 403),
        ({"scopes": ["read:transactions:all"]}, 403),
        ({"scopes": ["READ:TRANSACTIONS"]}, 403),
        ({}, 403),
        ({"claims": {"scope": [READ]}}, 403),
        ({"claims": {"scope": 1}}, 403),
        ({"claims": {"scope": None}}, 403),
        ({"claims": {"permissions": READ}}, 403),
        ({"claims": {"permissions": {READ: True}}}, 403),
        ({"claims": {"permissions": [1, None, [READ]]}}, 403),
        ({"claims": {"permissions": [1, None, READ]}}, 200),
        ({"claims": {"scope": f"  openid   {READ}  "}}, 200),
        ({"claims": {"scope": f"{READ}\t{WRITE}"}}, 403),
    ],
)
def test_requires_scope_reads_scope_and_permissions(api, auth_header, mint_args, status):
    resp = api.get("/things", headers=auth_header(**mint_args))
    assert resp.status_code == status
    if status == 403:
        assert resp.json["code"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("headers", "body", "content_type", "status", "code"),
    [
        (None, b"{not json", "application/json", 401, "authorization_header_missing"),
        (None, b"hello", "text/plain", 401, "authorization_header_missing"),
        ("bad", b"{not json", "application/json", 400, "invalid_header"),
        ("read", b"{not json", "application/json", 403, "insufficient_scope"),
        ("read", b"hello", "text/plain", 403, "insufficient_scope"),
    ],
)
def test_auth_runs_before_the_body_is_parsed(
    api, auth_header, headers, body, content_type, status, code
):
    header = {
        None: {},
        "bad": {"Authorization": "Bearer a b"},
        "read": auth_header(scopes=[READ]),
    }[headers]
    resp = api.post("/things", data=body, content_type=content_type, headers=header)
    assert (resp.status_code, resp.json["code"]) == (status, code)


def test_requires_scope_write_token_reaches_the_view(api, auth_header):
    resp = api.post("/things", json={"x": 1}, headers=auth_header(scopes=[WRITE]))
    assert (resp.status_code, resp.json) == (201, {"created": {"x": 1}})


def test_current_owner_with_issuer_is_issuer_and_sub(api, kit, auth_header):
    resp = api.get("/secured", headers=auth_header(sub="auth0|abc"))
    assert resp.json == {"owner": f"{kit.issuer} auth0|abc", "sub": "auth0|abc"}


def test_current_owner_with_domain_is_sub(jwks):
    kit = AuthKit("https://tenant.example.com/")
    kit.publish(jwks)
    settings = kit.settings(owner_includes_issuer=False)
    client = build_app(settings).test_client()
    resp = client.get("/secured", headers={"Authorization": f"Bearer {kit.mint(sub='auth0|abc')}"})
    assert resp.json["owner"] == "auth0|abc"


def test_owners_of_two_issuers_never_collide(jwks):
    a = AuthKit("https://a.example.com/")
    b = AuthKit("https://b.example.com/")
    a.publish(jwks)
    b.publish(jwks)
    settings = a.settings(
        issuers=(a.issuer, b.issuer), jwks_urls={a.issuer: a.jwks_url, b.issuer: b.jwks_url}
    )
    client = build_app(settings).test_client()
    owners = {
        client.get("/secured", headers={"Authorization": f"Bearer {k.mint(sub='same')}"}).json[
            "owner"
        ]
        for k in (a, b)
    }
    assert owners == {"https://a.example.com/ same", "https://b.example.com/ same"}


def test_claims_are_on_g_current_user(kit, jwks):
    app = Flask("g_test")
    Auth(kit.settings()).init_app(app)

    @app.get("/me")
    @requires_auth()
    def me():
        assert g.current_user is current_claims()
        return {"sub": g.current_user["sub"], "aud": g.current_user["aud"]}

    resp = app.test_client().get("/me", headers={"Authorization": f"Bearer {kit.mint()}"})
    assert resp.json == {"sub": "user-1", "aud": kit.audience}


def test_requires_scope_several_scopes_all_needed(kit, jwks):
    app = Flask("multi")
    Auth(kit.settings(), app)

    @app.get("/both")
    @requires_scope(READ, WRITE)
    def both():
        return {"ok": True}

    client = app.test_client()
    only_read = {"Authorization": f"Bearer {kit.mint(scopes=[READ])}"}
    resp = client.get("/both", headers=only_read)
    assert resp.status_code == 403
    assert resp.headers["WWW-Authenticate"].endswith(f'scope="{READ} {WRITE}"')
    both_scopes = {"Authorization": f"Bearer {kit.mint(scopes=[READ, WRITE])}"}
    assert client.get("/both", headers=both_scopes).status_code == 200


@pytest.mark.parametrize("scopes", [(), ("",), ("a b",)])
def test_requires_scope_refuses_bad_scope_names(scopes):
    with pytest.raises(ValueError):
        requires_scope(*scopes)


def test_decorators_without_init_app_fail_loudly(kit):
    app = Flask("no_auth")

    @app.get("/x")
    @requires_auth
    def x():
        return {}

    app.testing = True
    with responses.RequestsMock(), pytest.raises(RuntimeError, match="init_app"):
        app.test_client().get("/x", headers={"Authorization": f"Bearer {kit.mint()}"})


def test_current_owner_outside_auth_fails_loudly(kit):
    app = Flask("no_token")
    Auth(kit.settings(), app)
    with app.test_request_context("/"), pytest.raises(RuntimeError):
        current_owner()


def test_auth_registers_itself_as_extension(kit):
    app = Flask("ext")
    auth = Auth(kit.settings())
    auth.init_app(app)
    assert app.extensions["auth"] is auth
