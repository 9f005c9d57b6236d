"""DPoP through a Flask app built only from ``auth`` (SPEC §3a, §3 error table, §3b challenges).

The three modes, every row of the error table for both schemes (exact status, body and
``WWW-Authenticate``), nonces, ``resource_metadata``, the claims a view sees, and the
events an observer hears. Tokens and proofs come from the kit; the JWKS through
``responses``; the request URI is the test client's ``http://localhost/...``.
"""

from __future__ import annotations

import pytest
import responses

from auth import DPoPSettings, MemoryReplayStore, ReplayStoreUnavailableError
from auth.testing import OMIT, AuthKit, DPoPKey, dpop_headers
from tests.auth.minimal_app import READ, WRITE, build_app
from tests.auth.test_events import Recorder

BASE = "http://localhost"
URL = f"{BASE}/secured"
SECRET = "n" * 32
METADATA = "http://localhost/.well-known/oauth-protected-resource"

BOTH = 'Bearer realm="cashman", DPoP algs="ES256"'
MALFORMED = "The Authorization header is malformed"
INVALID = "The access token is invalid"
EXPIRED = "The access token expired"
CLAIMS = "The access token claims are invalid"
PROOF = "The DPoP proof is invalid"
NONCE = "Resend the request with a DPoP proof carrying the nonce in DPoP-Nonce"
MISSING = "An access token is required in the Authorization header"
SCOPE = "The access token does not grant the scope this request needs"


def bearer_error(error, description):
    return f'Bearer realm="cashman", error="{error}", error_description="{description}"'


def dpop_error(error, description):
    return f'DPoP error="{error}", error_description="{description}", algs="ES256"'


class FailingStore:
    """A replay store whose database is unreachable."""

    def record(self, jkt, jti, expires_at):
        raise ReplayStoreUnavailableError("down", retry_after=7)


@pytest.fixture
def make_api(kit, jwks):
    """``make_api(mode, base_url=..., store=..., observer=..., **dpop_settings)``.

    Without ``base_url`` the app stands the request's own URL in for it (the development
    server), so challenges carry no ``resource_metadata``.
    """

    def make(mode="allowed", *, base_url=None, store=None, observer=None, **changes):
        dpop = DPoPSettings(
            auth_dpop=mode, api_base_url=base_url, use_request_url=base_url is None, **changes
        )
        app = build_app(kit.settings(dpop=dpop), replay_store=store, observer=observer)
        return app.test_client()

    return make


@pytest.fixture
def api(make_api):
    return make_api()


@pytest.fixture
def dpop(kit, client_key):
    """``dpop(method="GET", url=URL, token=None, **proof_changes)`` -> DPoP request headers."""

    def make(method="GET", url=URL, token=None, scopes=(READ, WRITE), **changes):
        token = token or client_key.mint_bound(kit, scopes=scopes)
        return dpop_headers(token, client_key.proof(method, url, token, **changes))

    return make


def answer(resp):
    return resp.status_code, resp.json, resp.headers.get("WWW-Authenticate")


# -- every row of the SPEC §3 error table, both schemes, allowed mode ---------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, (401, "authorization_header_missing", MISSING, BOTH)),
        (
            {"Authorization": "Basic dXNlcjpwYXNz"},
            (401, "authorization_header_missing", MISSING, BOTH),
        ),
        (
            {"Authorization": "Bearer a b"},
            (400, "invalid_header", MALFORMED, bearer_error("invalid_request", MALFORMED)),
        ),
        (
            {"Authorization": "DPoP a b", "DPoP": "x.y.z"},
            (400, "invalid_header", MALFORMED, dpop_error("invalid_request", MALFORMED)),
        ),
        (
            {"Authorization": "Bearer not-a-jws"},
            (
                401,
                "invalid_token",
                INVALID,
                bearer_error("invalid_token", INVALID) + ', DPoP algs="ES256"',
            ),
        ),
        (
            [("Authorization", "Bearer a"), ("Authorization", "DPoP b")],
            (400, "invalid_header", MALFORMED, bearer_error("invalid_request", MALFORMED)),
        ),
    ],
)
def test_error_table_header_rows_both_schemes(api, headers, expected):
    status, code, description, challenge = expected
    resp = api.get("/secured", headers=headers)
    assert answer(resp) == (status, {"code": code, "description": description}, challenge)
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("mint_args", "code", "description"),
    [
        ({"key": "other"}, "invalid_token", INVALID),
        ({"headers": {"typ": "dpop+jwt"}}, "invalid_token", INVALID),
        ({"headers": {"crit": ["exp"]}}, "invalid_token", INVALID),
        ({"expires_in": -3600}, "token_expired", EXPIRED),
        ({"claims": {"aud": "https://other.api"}}, "invalid_claims", CLAIMS),
        ({"claims": {"iss": "https://evil.example.com/"}}, "invalid_claims", CLAIMS),
        ({"claims": {"exp": "tomorrow"}}, "invalid_claims", CLAIMS),
    ],
)
def test_error_table_token_rows_under_each_scheme(
    api, kit, client_key, mint_args, code, description
):
    if mint_args.get("key") == "other":
        mint_args = {**mint_args, "key": kit.other_key()}
    bearer_token = kit.mint(**mint_args)
    resp = api.get("/secured", headers={"Authorization": f"Bearer {bearer_token}"})
    expected_bearer = bearer_error("invalid_token", description) + ', DPoP algs="ES256"'
    assert answer(resp) == (401, {"code": code, "description": description}, expected_bearer)

    bound = client_key.mint_bound(kit, **mint_args)
    resp = api.get("/secured", headers=dpop_headers(bound, client_key.proof("GET", URL, bound)))
    expected_dpop = 'Bearer realm="cashman", ' + dpop_error("invalid_token", description)
    assert answer(resp) == (401, {"code": code, "description": description}, expected_dpop)


def test_error_table_missing_scope_under_bearer(api, kit):
    resp = api.get("/things", headers={"Authorization": f"Bearer {kit.mint(scopes=[WRITE])}"})
    challenge = 'Bearer realm="cashman", error="insufficient_scope", scope="read:transactions"'
    assert answer(resp) == (403, {"code": "insufficient_scope", "description": SCOPE}, challenge)


def test_error_table_missing_scope_under_dpop(api, dpop):
    resp = api.get("/things", headers=dpop(url=f"{BASE}/things", scopes=[WRITE]))
    challenge = 'DPoP error="insufficient_scope", scope="read:transactions", algs="ES256"'
    assert answer(resp) == (403, {"code": "insufficient_scope", "description": SCOPE}, challenge)


@pytest.mark.parametrize(
    "proof_changes",
    [
        {"claims": {"htm": "POST"}},
        {"claims": {"htu": "http://localhost/other"}},
        {"headers": {"typ": "JWT"}},
        {"corrupt_signature": True},
        {"embed_private": True},
        {"claims": {"ath": OMIT}},
    ],
)
def test_error_table_invalid_dpop_proof(api, dpop, proof_changes):
    resp = api.get("/secured", headers=dpop(**proof_changes))
    challenge = 'Bearer realm="cashman", ' + dpop_error("invalid_dpop_proof", PROOF)
    assert answer(resp) == (401, {"code": "invalid_dpop_proof", "description": PROOF}, challenge)


def test_error_table_proof_missing_or_doubled(api, dpop):
    headers = dpop()
    challenge = 'Bearer realm="cashman", ' + dpop_error("invalid_dpop_proof", PROOF)
    without = {"Authorization": headers["Authorization"]}
    assert answer(api.get("/secured", headers=without))[2] == challenge
    joined = {**headers, "DPoP": f"{headers['DPoP']},{headers['DPoP']}"}
    assert answer(api.get("/secured", headers=joined))[2] == challenge


def test_error_table_use_dpop_nonce_has_a_fresh_nonce(make_api, dpop):
    api = make_api(auth_dpop_nonce_secret=SECRET.encode())
    resp = api.get("/secured", headers=dpop())
    challenge = 'Bearer realm="cashman", ' + dpop_error("use_dpop_nonce", NONCE)
    assert answer(resp) == (401, {"code": "use_dpop_nonce", "description": NONCE}, challenge)
    assert len(resp.headers["DPoP-Nonce"]) == 43


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        ({"cnf": OMIT}, INVALID),  # no cnf.jkt under DPoP
        ({"cnf": {"x5t#S256": "abc"}}, INVALID),  # mTLS binding: not supported
    ],
)
def test_error_table_dpop_token_without_cnf_jkt(api, kit, client_key, claims, description):
    token = kit.mint(claims=claims)
    resp = api.get("/secured", headers=dpop_headers(token, client_key.proof("GET", URL, token)))
    expected = 'Bearer realm="cashman", ' + dpop_error("invalid_token", description)
    assert answer(resp) == (401, {"code": "invalid_token", "description": INVALID}, expected)


def test_error_table_proof_key_is_not_the_tokens(api, kit, client_key):
    token = DPoPKey().mint_bound(kit)  # bound to somebody else's key
    resp = api.get("/secured", headers=dpop_headers(token, client_key.proof("GET", URL, token)))
    expected = 'Bearer realm="cashman", ' + dpop_error("invalid_token", INVALID)
    assert answer(resp) == (401, {"code": "invalid_token", "description": INVALID}, expected)


@pytest.mark.parametrize("mode", ["allowed", "off"])
def test_error_table_bound_token_sent_as_bearer(make_api, kit, client_key, mode):
    token = client_key.mint_bound(kit)
    resp = make_api(mode).get("/secured", headers={"Authorization": f"Bearer {token}"})
    expected = bearer_error("invalid_token", INVALID)
    if mode == "allowed":
        expected += ', DPoP algs="ES256"'
    assert answer(resp) == (401, {"code": "invalid_token", "description": INVALID}, expected)


def test_error_table_replay_store_unreachable_is_503_without_challenge(make_api, dpop):
    resp = make_api(store=FailingStore()).get("/secured", headers=dpop())
    assert resp.status_code == 503
    assert resp.json == {
        "code": "dpop_replay_unavailable",
        "description": "DPoP proofs cannot be checked for replay right now; retry later",
    }
    assert "WWW-Authenticate" not in resp.headers
    assert resp.headers["Retry-After"] == "7"
    assert resp.headers["Cache-Control"] == "no-store"


def test_error_table_jwks_unavailable_under_dpop_is_503_without_challenge(client_key):
    kit = AuthKit()
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, status=500)
        dpop = DPoPSettings(use_request_url=True)
        api = build_app(kit.settings(dpop=dpop)).test_client()
        token = client_key.mint_bound(kit)
        resp = api.get("/secured", headers=dpop_headers(token, client_key.proof("GET", URL, token)))
    assert (resp.status_code, resp.json["code"]) == (503, "jwks_unavailable")
    assert "WWW-Authenticate" not in resp.headers
    assert int(resp.headers["Retry-After"]) >= 1


# -- the modes ---------------------------------------------------------------------------------


def test_allowed_mode_accepts_both_schemes(api, kit, dpop):
    bearer = api.get("/claims", headers={"Authorization": f"Bearer {kit.mint()}"})
    assert (bearer.status_code, bearer.json["scheme"], bearer.json["cnf"]) == (200, "Bearer", None)
    bound = api.get("/claims", headers=dpop(url=f"{BASE}/claims"))
    assert (bound.status_code, bound.json["scheme"]) == (200, "DPoP")


def test_view_sees_the_claims_with_cnf_jkt(api, dpop, client_key):
    resp = api.get("/claims", headers=dpop(url=f"{BASE}/claims"))
    assert resp.json["cnf"] == {"jkt": client_key.jkt}
    assert resp.json["sub"] == "user-1"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer {token}", "Bearer {bound}", "Bearer", "Bearer a$b", "bearer not-a-jws"],
)
def test_required_mode_bearer_is_an_unsupported_scheme_whatever_the_token(
    make_api, kit, client_key, authorization
):
    value = authorization.format(token=kit.mint(), bound=client_key.mint_bound(kit))
    resp = make_api("required").get("/secured", headers={"Authorization": value})
    assert answer(resp) == (
        401,
        {"code": "authorization_header_missing", "description": MISSING},
        'DPoP algs="ES256"',
    )


def test_required_mode_accepts_dpop_and_challenges_with_dpop_only(make_api, dpop):
    api = make_api("required")
    assert api.get("/secured", headers=dpop()).status_code == 200
    refused = api.get("/secured", headers=dpop(claims={"htm": "PUT"}))
    assert refused.headers["WWW-Authenticate"] == dpop_error("invalid_dpop_proof", PROOF)
    assert api.get("/secured").headers["WWW-Authenticate"] == 'DPoP algs="ES256"'


def test_off_mode_dpop_is_an_unsupported_scheme(make_api, kit, dpop):
    api = make_api("off")
    resp = api.get("/secured", headers=dpop())
    assert answer(resp) == (
        401,
        {"code": "authorization_header_missing", "description": MISSING},
        'Bearer realm="cashman"',
    )
    assert api.get("/secured", headers={"Authorization": f"Bearer {kit.mint()}"}).status_code == 200


def test_bearer_request_ignores_a_dpop_header(api, kit):
    headers = {"Authorization": f"Bearer {kit.mint()}", "DPoP": "garbage"}
    assert api.get("/secured", headers=headers).status_code == 200


def test_challenge_lists_the_configured_proof_algorithms(make_api):
    api = make_api(auth_dpop_algorithms=("ES256", "PS256"))
    assert api.get("/secured").headers["WWW-Authenticate"] == (
        'Bearer realm="cashman", DPoP algs="ES256 PS256"'
    )


# -- resource_metadata (RFC 9728 §5.1) ---------------------------------------------------------


def test_every_401_challenge_names_the_metadata_with_a_base_url(make_api, kit, dpop):
    api = make_api(base_url=BASE)
    meta = f'resource_metadata="{METADATA}"'
    assert api.get("/secured").headers["WWW-Authenticate"] == (
        f'Bearer realm="cashman", {meta}, DPoP algs="ES256", {meta}'
    )
    refused = api.get("/secured", headers=dpop(claims={"htm": "PUT"}))
    assert refused.headers["WWW-Authenticate"] == (
        f'Bearer realm="cashman", {meta}, {dpop_error("invalid_dpop_proof", PROOF)}, {meta}'
    )


def test_metadata_url_puts_the_well_known_path_before_the_base_path(make_api, kit):
    api = make_api(base_url="https://api.example.com/v1/")
    challenge = api.get("/secured").headers["WWW-Authenticate"]
    assert (
        'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v1"'
        in (challenge)
    )


def test_400_and_403_carry_no_resource_metadata(make_api, kit):
    api = make_api(base_url=BASE)
    bad = api.get("/secured", headers={"Authorization": "Bearer a b"})
    assert bad.headers["WWW-Authenticate"] == bearer_error("invalid_request", MALFORMED)
    scope = api.get("/things", headers={"Authorization": f"Bearer {kit.mint(scopes=[WRITE])}"})
    assert "resource_metadata" not in scope.headers["WWW-Authenticate"]


def test_base_url_is_what_htu_is_compared_with_never_the_host(make_api, dpop):
    api = make_api(base_url="https://api.example.com")
    good = dpop(url="https://api.example.com/secured")
    assert api.get("/secured", headers=good).status_code == 200
    # a forged Host makes the test client's URL http://evil.example/secured: irrelevant
    forged = dpop(url="http://evil.example/secured")
    resp = api.get("/secured", headers={**forged, "Host": "evil.example"})
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_dpop_proof")


# -- nonces ------------------------------------------------------------------------------------


def test_nonce_round_trip_and_every_dpop_answer_carries_the_nonce(make_api, kit, dpop):
    api = make_api(auth_dpop_nonce_secret=SECRET.encode())
    first = api.get("/secured", headers=dpop())
    nonce = first.headers["DPoP-Nonce"]
    second = api.get("/secured", headers=dpop(nonce=nonce))
    assert second.status_code == 200
    assert second.headers["DPoP-Nonce"] == nonce
    denied = api.get("/things", headers=dpop(url=f"{BASE}/things", nonce=nonce, scopes=[WRITE]))
    assert (denied.status_code, denied.headers["DPoP-Nonce"]) == (403, nonce)
    bearer = api.get("/secured", headers={"Authorization": f"Bearer {kit.mint()}"})
    assert "DPoP-Nonce" not in bearer.headers


def test_nonce_of_one_instance_is_accepted_by_another_with_the_secret(make_api, dpop):
    one, other = (
        make_api(auth_dpop_nonce_secret=SECRET.encode()),
        make_api(auth_dpop_nonce_secret=SECRET.encode()),
    )
    nonce = one.get("/secured", headers=dpop()).headers["DPoP-Nonce"]
    assert other.get("/secured", headers=dpop(nonce=nonce)).status_code == 200
    stranger = make_api(auth_dpop_nonce_secret=b"s" * 32)
    resp = stranger.get("/secured", headers=dpop(nonce=nonce))
    assert (resp.status_code, resp.json["code"]) == (401, "use_dpop_nonce")


def test_no_nonce_header_without_a_secret(api, dpop):
    assert "DPoP-Nonce" not in api.get("/secured", headers=dpop()).headers


# -- replay, and refusals that burn nothing ----------------------------------------------------


def test_replayed_proof_is_refused(api, dpop):
    headers = dpop()
    assert api.get("/secured", headers=headers).status_code == 200
    resp = api.get("/secured", headers=headers)
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_dpop_proof")


def test_proof_refused_before_the_replay_check_does_not_burn_its_jti(make_api, kit, client_key):
    store = MemoryReplayStore()
    api = make_api(store=store, auth_dpop_nonce_secret=SECRET.encode())
    token = client_key.mint_bound(kit)
    # refused for its missing nonce, then for a second DPoP header, then for the store
    no_nonce = client_key.proof("GET", URL, token, jti="the-jti")
    nonce = api.get("/secured", headers=dpop_headers(token, no_nonce)).headers["DPoP-Nonce"]
    proof = client_key.proof("GET", URL, token, jti="the-jti", nonce=nonce)
    doubled = {**dpop_headers(token, proof), "DPoP": f"{proof}, {proof}"}
    assert api.get("/secured", headers=doubled).json["code"] == "invalid_dpop_proof"
    down = make_api(store=FailingStore(), auth_dpop_nonce_secret=SECRET.encode())
    assert down.get("/secured", headers=dpop_headers(token, proof)).status_code == 503
    assert len(store) == 0
    assert api.get("/secured", headers=dpop_headers(token, proof)).status_code == 200
    assert len(store) == 1


# -- what the observer hears -------------------------------------------------------------------


def test_observer_hears_each_outcome_once_per_request(make_api, kit, dpop):
    recorder = Recorder()
    api = make_api(observer=recorder)
    api.get("/secured", headers={"Authorization": f"Bearer {kit.mint()}"})
    headers = dpop()
    api.get("/secured", headers=headers)
    api.get("/secured", headers=headers)  # replay
    api.get("/things", headers={"Authorization": f"Bearer {kit.mint(scopes=[WRITE])}"})
    api.get("/secured")
    api.get("/secured", headers={"Authorization": "DPoP a b"})
    assert recorder.named("authentication") == [
        ("authentication", "success", "Bearer"),
        ("authentication", "success", "DPoP"),
        ("authentication", "invalid_dpop_proof", "DPoP"),
        ("authentication", "insufficient_scope", "Bearer"),
        ("authentication", "authorization_header_missing", None),
        ("authentication", "invalid_header", "DPoP"),
    ]
    assert recorder.named("dpop_replay_refused") == [("dpop_replay_refused",)]
