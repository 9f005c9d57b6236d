"""DPoP through the whole app, its replay store in the app's database (SPEC §3a, §3b, §8).

Runs on SQLite and, with ``TEST_POSTGRES_URL``, on PostgreSQL. ``API_BASE_URL`` is
``http://localhost`` (the test client's own URL), so the kit's proofs for
``http://localhost/...`` match; a second app on the same database stands for another
instance. Every step of SPEC §3a gets a proof (or token) that fails only that step.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from werkzeug.test import EnvironBuilder

from auth.testing import OMIT, DPoPKey, dpop_headers
from cashman import create_app
from cashman.config import Settings
from cashman.models import DPoPReplayRecord, Transaction
from tests.conftest import READ, WRITE

BASE = "http://localhost"
SECRET = "s" * 32


@pytest.fixture
def env(env):
    return {**env, "API_BASE_URL": BASE}


@pytest.fixture
def bound_token(kit, client_key):
    return client_key.mint_bound(kit, scopes=[READ, WRITE])


@pytest.fixture
def dpop(client_key, bound_token):
    """``dpop(method, path, **proof_changes)`` -> headers of a DPoP request with a fresh proof."""

    def make(method="GET", path="/incomes", token=None, **changes):
        token = token or bound_token
        return dpop_headers(token, client_key.proof(method, f"{BASE}{path}", token, **changes))

    return make


@pytest.fixture
def other_instance(env, jwks):
    """``other_instance(**env_changes)`` -> a client of another app on the same database."""
    apps = []

    def make(**changes):
        app = create_app(Settings.from_env({**env, **changes}))
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["cashman.db"].dispose()


def replay_rows(app) -> int:
    with app.extensions["cashman.db"].reading() as session:
        return session.scalar(select(func.count()).select_from(DPoPReplayRecord))


def test_dpop_list_create_and_read_back(client, dpop, app, rows):
    assert client.get("/incomes", headers=dpop()).status_code == 200
    created = client.post(
        "/incomes", json={"description": "bound", "amount": 12.5}, headers=dpop("POST")
    )
    assert created.status_code == 201, created.json
    listed = client.get("/incomes", headers=dpop())
    assert [tx["id"] for tx in listed.json] == [created.json["id"]]
    assert [(r.description, r.amount) for r in rows(Transaction)] == [("bound", Decimal("12.50"))]
    assert replay_rows(app) == 3


@pytest.mark.parametrize(("htm", "status"), [("POST", 201), ("post", 401), ("Post", 401)])
def test_htm_is_compared_case_sensitively(client, dpop, htm, status):
    # RFC 9110 §9.1: methods are case-sensitive, and so is htm (RFC 9449 §4.3)
    headers = dpop("POST", claims={"htm": htm})
    resp = client.post("/incomes", json={"description": "x", "amount": 1}, headers=headers)
    assert resp.status_code == status
    if status == 401:
        assert resp.json["code"] == "invalid_dpop_proof"


@pytest.mark.parametrize("htm", ["get", "GET"])
def test_a_method_sent_in_lower_case_is_refused_before_the_proof(
    client, client_key, bound_token, htm
):
    # granian passes "get" on as sent; it is not GET (RFC 9110 §9.1) but an unknown method
    proof = client_key.proof(htm, f"{BASE}/incomes", bound_token)
    builder = EnvironBuilder("/incomes", BASE, headers=dpop_headers(bound_token, proof))
    resp = client.open({**builder.get_environ(), "REQUEST_METHOD": "get"})
    assert (resp.status_code, resp.json["code"]) == (405, "method_not_allowed")


def test_dpop_and_bearer_tokens_of_one_user_own_the_same_rows(client, dpop, bearer):
    created = client.post("/incomes", json={"description": "x", "amount": 1}, headers=dpop("POST"))
    assert created.status_code == 201
    listed = client.get("/incomes", headers=bearer())
    assert [tx["id"] for tx in listed.json] == [created.json["id"]]


def test_dpop_answers_are_not_stored_by_caches(client, dpop):
    assert client.get("/secured/ping", headers=dpop(path="/secured/ping")).headers[
        "Cache-Control"
    ] == ("no-store")


def test_query_string_is_not_part_of_htu(client, dpop, create):
    create()
    create()
    resp = client.get("/incomes?limit=1", headers=dpop())
    assert resp.status_code == 200
    assert len(resp.json) == 1


@pytest.mark.parametrize(
    "htu",
    [
        "HTTP://LOCALHOST/incomes",
        "http://localhost:80/incomes",
        "http://localhost/./x/../incomes",
        "http://localhost/%69ncomes",
        "http://localhost/incomes?limit=5#frag",
    ],
)
def test_htu_is_compared_after_rfc3986_normalisation(client, dpop, htu):
    resp = client.get("/incomes", headers=dpop(claims={"htu": htu}))
    assert resp.status_code == 200, resp.json


# -- each step of SPEC §3a, failed alone ------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        # step 3: the proof's JOSE header and signature
        ({"headers": {"typ": "jwt"}}, "invalid_dpop_proof"),
        ({"headers": {"alg": "RS256"}}, "invalid_dpop_proof"),
        ({"headers": {"jwk": OMIT}}, "invalid_dpop_proof"),
        ({"embed_private": True}, "invalid_dpop_proof"),
        ({"headers": {"crit": ["htm"]}}, "invalid_dpop_proof"),
        ({"corrupt_signature": True}, "invalid_dpop_proof"),
        ({"key": DPoPKey().private_key}, "invalid_dpop_proof"),
        # step 3: the proof's claims
        ({"claims": {"jti": OMIT}}, "invalid_dpop_proof"),
        ({"claims": {"jti": "j" * 257}}, "invalid_dpop_proof"),
        ({"claims": {"htm": "POST"}}, "invalid_dpop_proof"),
        ({"claims": {"htu": "http://localhost/expenses"}}, "invalid_dpop_proof"),
        ({"claims": {"htu": "https://localhost/incomes"}}, "invalid_dpop_proof"),
        # proof times relative to when the test runs, not to collection (a long run
        # would otherwise carry a "future" proof into the past)
        ({"now_offset_s": -400}, "invalid_dpop_proof"),
        ({"now_offset_s": 120}, "invalid_dpop_proof"),
        ({"claims": {"iat": "now"}}, "invalid_dpop_proof"),
        ({"claims": {"ath": OMIT}}, "invalid_dpop_proof"),
        ({"claims": {"ath": "x" * 43}}, "invalid_dpop_proof"),
    ],
)
def test_each_proof_check_refuses_and_burns_nothing(client, app, dpop, changes, code):
    if "now_offset_s" in changes:
        changes = {"now": time.time() + changes["now_offset_s"]}
    resp = client.get("/incomes", headers=dpop(**changes))
    assert (resp.status_code, resp.json["code"]) == (401, code)
    assert 'DPoP error="invalid_dpop_proof"' in resp.headers["WWW-Authenticate"]
    assert replay_rows(app) == 0


def test_step_1_proof_missing_or_doubled(client, app, dpop):
    headers = dpop()
    for sent in (
        {"Authorization": headers["Authorization"]},
        [
            ("Authorization", headers["Authorization"]),
            ("DPoP", headers["DPoP"]),
            ("DPoP", headers["DPoP"]),
        ],
        {**headers, "DPoP": headers["DPoP"] + "," + headers["DPoP"]},
    ):
        resp = client.get("/incomes", headers=sent)
        assert (resp.status_code, resp.json["code"]) == (401, "invalid_dpop_proof")
    assert replay_rows(app) == 0
    assert client.get("/incomes", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"exp": int(time.time()) - 3600}, "token_expired"),
        ({"aud": "https://someone-else"}, "invalid_claims"),
        ({"cnf": OMIT}, "invalid_token"),
        ({"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}, "invalid_token"),
    ],
)
def test_step_2_token_refused_under_dpop(client, app, kit, client_key, dpop, claims, code):
    token = kit.mint(scopes=[READ], claims={"cnf": {"jkt": client_key.jkt}, **claims})
    resp = client.get("/incomes", headers=dpop(token=token))
    assert (resp.status_code, resp.json["code"]) == (401, code)
    assert 'DPoP error="invalid_token"' in resp.headers["WWW-Authenticate"]
    assert replay_rows(app) == 0


def test_step_4_binding_to_another_key_is_invalid_token(client, app, kit, dpop):
    token = DPoPKey().mint_bound(kit, scopes=[READ])
    resp = client.get("/incomes", headers=dpop(token=token))
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_token")
    assert replay_rows(app) == 0


def test_step_5_replay_refused_by_this_and_another_instance(client, dpop, other_instance):
    headers = dpop()
    assert client.get("/incomes", headers=headers).status_code == 200
    for instance in (client, other_instance()):
        resp = instance.get("/incomes", headers=headers)
        assert (resp.status_code, resp.json["code"]) == (401, "invalid_dpop_proof")


def test_step_5_replay_store_unreachable_is_503(client, app, dpop):
    with app.extensions["cashman.db"].engine.begin() as connection:
        connection.execute(text("DROP TABLE dpop_replay"))
    resp = client.get("/incomes", headers=dpop())
    assert (resp.status_code, resp.json["code"]) == (503, "dpop_replay_unavailable")
    assert resp.headers["Retry-After"] == "5"
    assert "WWW-Authenticate" not in resp.headers


def test_step_6_nonce_required_then_accepted_by_another_instance(env, dpop, other_instance):
    one, two = (
        other_instance(AUTH_DPOP_NONCE_SECRET=SECRET),
        other_instance(AUTH_DPOP_NONCE_SECRET=SECRET),
    )
    first = one.get("/incomes", headers=dpop())
    assert (first.status_code, first.json["code"]) == (401, "use_dpop_nonce")
    nonce = first.headers["DPoP-Nonce"]
    answered = two.get("/incomes", headers=dpop(nonce=nonce))
    assert answered.status_code == 200
    assert answered.headers["DPoP-Nonce"] == nonce


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/ping", 200),  # open: no credentials are checked
        ("GET", "/no/such/path", 404),
        ("DELETE", "/incomes", 405),
        ("PUT", "/secured/ping", 405),
    ],
)
def test_step_6_every_answer_to_a_dpop_request_carries_the_nonce(
    env, dpop, other_instance, method, path, status
):
    # SPEC §3a step 6: responses to DPoP requests carry the current DPoP-Nonce, also the
    # ones whose route checks no credentials or that no route answers
    api = other_instance(AUTH_DPOP_NONCE_SECRET=SECRET)
    nonce = api.get("/incomes", headers=dpop()).headers["DPoP-Nonce"]
    resp = api.open(path, method=method, headers=dpop(method, path, nonce=nonce))
    assert resp.status_code == status
    assert resp.headers["DPoP-Nonce"] == nonce
    # the scheme is matched case-insensitively (RFC 9110 §11.1); a proof alone is DPoP too
    headers = dpop(method, path, nonce=nonce)
    lower = {**headers, "Authorization": headers["Authorization"].replace("DPoP ", "dpop ")}
    assert api.open(path, method=method, headers=lower).headers["DPoP-Nonce"] == nonce
    proof_only = {"DPoP": headers["DPoP"]}
    assert api.open(path, method=method, headers=proof_only).headers["DPoP-Nonce"] == nonce


def test_step_6_no_nonce_on_answers_to_requests_without_dpop(env, kit, dpop, other_instance):
    api = other_instance(AUTH_DPOP_NONCE_SECRET=SECRET)
    bearer = {"Authorization": f"Bearer {kit.mint(scopes=[READ])}"}
    for path in ("/ping", "/incomes", "/no/such/path"):
        assert "DPoP-Nonce" not in api.get(path).headers
        assert "DPoP-Nonce" not in api.get(path, headers=bearer).headers
    # with the Bearer scheme a DPoP header is ignored (SPEC §3a step 1)
    ignored = {**bearer, "DPoP": dpop()["DPoP"]}
    assert "DPoP-Nonce" not in api.get("/incomes", headers=ignored).headers


def test_write_scope_is_checked_under_dpop(client, kit, client_key, dpop):
    token = client_key.mint_bound(kit, scopes=[READ])
    resp = client.post(
        "/incomes", json={"description": "x", "amount": 1}, headers=dpop("POST", token=token)
    )
    assert resp.status_code == 403
    assert resp.headers["WWW-Authenticate"] == (
        'DPoP error="insufficient_scope", scope="write:transactions", algs="ES256"'
    )


# -- modes ------------------------------------------------------------------------------------


def test_required_mode_refuses_bearer_with_the_dpop_challenge(other_instance, bearer, dpop):
    api = other_instance(AUTH_DPOP="required")
    resp = api.get("/incomes", headers=bearer())
    assert (resp.status_code, resp.json["code"]) == (401, "authorization_header_missing")
    assert resp.headers["WWW-Authenticate"] == (
        'DPoP algs="ES256", resource_metadata="http://localhost/.well-known/oauth-protected-resource"'
    )
    assert api.get("/incomes", headers=dpop()).status_code == 200


def test_off_mode_refuses_the_dpop_scheme(other_instance, bearer, dpop):
    api = other_instance(AUTH_DPOP="off")
    resp = api.get("/incomes", headers=dpop())
    assert (resp.status_code, resp.json["code"]) == (401, "authorization_header_missing")
    assert resp.headers["WWW-Authenticate"] == (
        'Bearer realm="cashman", '
        'resource_metadata="http://localhost/.well-known/oauth-protected-resource"'
    )
    assert api.get("/incomes", headers=bearer()).status_code == 200


def test_production_settings_without_base_url_run_dpop_off(env, jwks, dpop, database_url):
    app = create_app(Settings.from_env({k: v for k, v in env.items() if k != "API_BASE_URL"}))
    try:
        resp = app.test_client().get("/incomes", headers=dpop())
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="cashman"'
        assert resp.json["code"] == "authorization_header_missing"
    finally:
        app.extensions["cashman.db"].dispose()


def with_stray_bits(segment: str) -> str:
    """``segment`` with the spare low bit of its last base64url character set: the same
    bytes to a lenient decoder, another spelling of the same token or proof."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(segment) % 4 in (2, 3)  # 64 and 256 bytes of signature leave spare bits
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) | 1]


def test_a_proof_or_token_spelled_with_stray_base64url_bits_is_refused(
    client, app, client_key, bound_token, bearer
):
    # RFC 4648 §3.5: one token, one string. A decoder that ignores the spare bits
    # accepts several spellings of one signature (and of one token, as a cache key).
    token_parts = bearer()["Authorization"].split(" ", 1)[1].split(".")
    token = ".".join([*token_parts[:2], with_stray_bits(token_parts[2])])
    proof_parts = client_key.proof("GET", f"{BASE}/incomes", bound_token).split(".")
    proof = ".".join([*proof_parts[:2], with_stray_bits(proof_parts[2])])

    as_bearer = client.get("/incomes", headers={"Authorization": f"Bearer {token}"})
    as_dpop = client.get("/incomes", headers=dpop_headers(bound_token, proof))
    assert (as_bearer.status_code, as_bearer.json["code"]) == (401, "invalid_token")
    assert (as_dpop.status_code, as_dpop.json["code"]) == (401, "invalid_dpop_proof")
    assert replay_rows(app) == 0


def test_the_kit_writes_huge_integers_and_the_api_refuses_them(client, dpop, kit, client_key):
    # SPEC §7 "any claim broken on purpose": the kit raised ValueError past 4300 digits
    resp = client.get("/incomes", headers=dpop(claims={"iat": 10**5000}))
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_dpop_proof")
    token = client_key.mint_bound(kit, claims={"exp": 10**5000})
    resp = client.get("/incomes", headers=dpop(token=token))
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_claims")
