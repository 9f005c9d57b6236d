"""The development issuer's DPoP side: bound tokens, the proof CLI, the token endpoint.

The app trusts the development issuer over HTTP (its JWKS on loopback) and, as the
development server does, compares ``htu`` with the request's own URL.
"""

from __future__ import annotations

import stat

import pytest
import requests
from jose import jwt

from auth import dev_issuer
from auth.dev_token import DevIssuerServer
from auth.dpop_proof import load_key
from auth.testing import DPoPKey, dpop_headers, jwk_thumbprint
from cashman import create_app
from cashman.config import Settings
from tests.support import raw_http
from tests.support.processes import PYTHON, hermetic_env, run_command

ORIGIN = "http://127.0.0.1:8080"


@pytest.fixture
def issuer(tmp_path):
    return dev_issuer.DevIssuer.load(tmp_path / "dev-issuer-key.pem")


@pytest.fixture
def server(issuer):
    with DevIssuerServer(
        issuer, audience=dev_issuer.DEV_AUDIENCE, cors_origins=[ORIGIN]
    ) as running:
        yield running


@pytest.fixture
def dev_client(server, tmp_path):
    env = dev_issuer.environment(server, {"DATABASE_URL": f"sqlite:///{tmp_path / 'db'}"})
    app = create_app(Settings.from_env(env, is_development=True))
    yield app.test_client()
    app.extensions["cashman.db"].dispose()


def cli(tmp_path, module, *args):
    env = hermetic_env(tmp_path, DEV_ISSUER_KEY_FILE=str(tmp_path / "dev-issuer-key.pem"))
    done = run_command([PYTHON, "-m", module, *args], env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_minted_bound_token_carries_the_keys_thumbprint(issuer):
    key = DPoPKey()
    claims = jwt.get_unverified_claims(issuer.mint(jkt=key.jkt))
    assert claims["cnf"] == {"jkt": key.jkt}


def test_cli_bound_token_and_cli_proof_are_accepted(tmp_path, dev_client, issuer):
    key_file = tmp_path / "dev-dpop-key.pem"
    token = cli(tmp_path, "auth.dev_issuer", "--dpop-key", str(key_file))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert jwt.get_unverified_claims(token)["cnf"] == {"jkt": load_key(key_file).jkt}
    for _ in range(2):  # a fresh proof each time
        proof = cli(
            tmp_path,
            "auth.dpop_proof",
            "--method",
            "get",
            "--url",
            "http://localhost/incomes?limit=5",
            "--token",
            token,
        )  # the default key: beside DEV_ISSUER_KEY_FILE, the one the token is bound to
        resp = dev_client.get("/incomes?limit=5", headers=dpop_headers(token, proof))
        assert resp.status_code == 200, resp.json


def test_cli_proof_refuses_a_key_file_that_is_not_p256(tmp_path):
    (tmp_path / "rsa.pem").write_bytes(dev_issuer.DevIssuer.load(tmp_path / "rsa.pem").private_pem)
    env = hermetic_env(tmp_path)
    done = run_command(
        [
            PYTHON,
            "-m",
            "auth.dpop_proof",
            "--method",
            "GET",
            "--url",
            "http://x/",
            "--key",
            str(tmp_path / "rsa.pem"),
        ],
        env,
    )
    assert done.returncode == 2
    assert "EC P-256" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("tenant", "noted"), [({}, False), ({"AUTH0_DOMAIN": "example.us.auth0.com"}, True)]
)
def test_cli_token_says_when_the_api_would_trust_a_tenant_instead(tmp_path, tenant, noted):
    env = hermetic_env(tmp_path, **tenant)
    done = run_command([PYTHON, "-m", "auth.dev_issuer"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(".") == 2  # the token, printed all the same
    assert ("trusts that tenant" in done.stderr) is noted


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--method", "GET", "--url", "127.0.0.1:5000/incomes"], "--url"),  # no scheme
        (["--method", "GET", "--url", ""], "--url"),
        (["--method", "GET", "--url", "ftp://127.0.0.1/incomes"], "--url"),
        (["--method", "GET", "--url", "http://[::1/incomes"], "--url"),  # was a traceback
        (["--method", "GET", "--url", "http://127.0.0.1:99999/incomes"], "--url"),
        (["--method", "", "--url", "http://127.0.0.1/incomes"], "--method"),
        (["--method", "GET /x", "--url", "http://127.0.0.1/incomes"], "--method"),
        (["--method", "GET", "--url", "http://127.0.0.1/", "--token", "t\u00f6k"], "--token"),
    ],
)
def test_cli_proof_refuses_what_could_never_match(tmp_path, args, option):
    # each printed a proof no server accepts, or (a non-ASCII token) a traceback
    done = run_command([PYTHON, "-m", "auth.dpop_proof", *args], hermetic_env(tmp_path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"error: {option}: " in done.stderr and "Traceback" not in done.stderr


# -- the token endpoint ------------------------------------------------------------------------


def token_request(server, key, *, origin=None, body=None, **proof_changes):
    proof = key.proof("POST", server.token_url, **proof_changes)
    headers = {"DPoP": proof, **({"Origin": origin} if origin else {})}
    return requests.post(server.token_url, data=body or {}, headers=headers, timeout=10)


def test_token_endpoint_binds_the_token_to_the_proofs_key(server, dev_client):
    key = DPoPKey()
    resp = token_request(server, key, body={"sub": "alice", "scope": "read:transactions"})
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    assert (body["token_type"], body["scope"], body["expires_in"]) == (
        "DPoP",
        "read:transactions",
        3600,
    )
    claims = jwt.get_unverified_claims(body["access_token"])
    assert (claims["sub"], claims["cnf"]) == ("alice", {"jkt": jwk_thumbprint(key.jwk())})
    token = body["access_token"]
    listed = dev_client.get(
        "/incomes", headers=dpop_headers(token, key.proof("GET", "http://localhost/incomes", token))
    )
    assert listed.status_code == 200


def test_token_endpoint_without_a_proof_issues_a_bearer_token(server, dev_client):
    resp = requests.post(server.token_url, timeout=10)
    assert resp.json()["token_type"] == "Bearer"
    token = resp.json()["access_token"]
    assert "cnf" not in jwt.get_unverified_claims(token)
    ping = dev_client.get("/secured/ping", headers={"Authorization": f"Bearer {token}"})
    assert ping.status_code == 200


@pytest.mark.parametrize(
    "changes",
    [
        {"claims": {"htm": "GET"}},
        {"claims": {"htu": "http://127.0.0.1:1/oauth/token"}},
        {"corrupt_signature": True},
        {"embed_private": True},
    ],
)
def test_token_endpoint_refuses_a_bad_proof(server, changes):
    resp = token_request(server, DPoPKey(), **changes)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_dpop_proof"


def test_token_endpoint_refuses_a_replayed_proof(server):
    key = DPoPKey()
    proof = key.proof("POST", server.token_url)
    first = requests.post(server.token_url, headers={"DPoP": proof}, timeout=10)
    again = requests.post(server.token_url, headers={"DPoP": proof}, timeout=10)
    assert (first.status_code, again.status_code) == (200, 400)


def test_token_endpoint_cors_for_allowed_origins_only(server):
    preflight = requests.options(
        server.token_url,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "dpop",
        },
        timeout=10,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "DPoP" in preflight.headers["Access-Control-Allow-Headers"]
    other = token_request(server, DPoPKey(), origin="http://evil.example")
    assert other.status_code == 200  # the browser, not the server, withholds the answer
    assert "Access-Control-Allow-Origin" not in other.headers
    allowed = token_request(server, DPoPKey(), origin=ORIGIN)
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("method", ["POST", "OPTIONS"])
@pytest.mark.parametrize(
    ("host", "status"),
    [
        # DNS rebinding: a page on a name made to resolve to 127.0.0.1 is its own origin
        ("evil.example:{port}", 421),
        ("localhost.evil.example", 421),
        ("127.0.0.1.evil.example:{port}", 421),
        ("localhost:{port}", None),
        ("127.0.0.1:{port}", None),
        ("[::1]:{port}", None),
    ],
)
def test_token_endpoint_answers_only_loopback_names_in_host(server, method, host, status):
    port = server.server_address[1]
    headers = {"Host": host.format(port=port), "Origin": ORIGIN}
    resp = requests.request(method, server.token_url, headers=headers, timeout=10)
    if status is None:
        assert resp.status_code in (200, 204)
    else:
        assert resp.status_code == status
        assert resp.json()["error"] == "invalid_request"
        assert "access_token" not in resp.text


def test_token_endpoint_refuses_a_body_that_is_not_utf8(server):
    # the sub was "caf\ufffd": a name the client never sent
    body = "sub=caf\u00e9".encode("latin-1")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    resp = requests.post(server.token_url, data=body, headers=headers, timeout=10)
    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_request")


def test_token_endpoint_refuses_a_repeated_field(server):
    # "sub=a&sub=b" minted a token for "a", silently
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    resp = requests.post(server.token_url, data="sub=a&sub=b", headers=headers, timeout=10)
    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_request")
    assert "access_token" not in resp.text


def test_token_endpoint_answers_get_with_405_and_allow(server):
    resp = requests.get(server.token_url, timeout=10)
    assert (resp.status_code, resp.json()["error"]) == (405, "invalid_request")
    assert resp.headers["Allow"] == "POST, OPTIONS"
    # the key set is still served
    jwks = server.token_url.replace("/oauth/token", "/.well-known/jwks.json")
    keys = requests.get(jwks, timeout=10)
    assert keys.status_code == 200 and keys.json()["keys"]


@pytest.mark.parametrize(
    "head",
    [
        b"POST /oauth/token HTTP/1.1\r\nContent-Length: 0\r\n",
        b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n"
        b"Content-Length: 0\r\n",
    ],
    ids=["no Host", "two Host fields"],
)
def test_token_endpoint_refuses_a_missing_or_repeated_host(server, head):
    with raw_http.connect(server.server_address[1]) as sock:
        sock.sendall(head + b"Connection: close\r\n\r\n")
        answer = raw_http.read_response(sock)
    assert (answer.status, answer.json()["error"]) == (400, "invalid_request")


def test_token_endpoint_binds_to_loopback_only(issuer):
    with pytest.raises(dev_issuer.DevIssuerError):
        DevIssuerServer(issuer, audience="a", host="0.0.0.0")  # noqa: S104


@pytest.mark.parametrize(
    ("data", "scope"),
    [
        ({}, "read:transactions write:transactions"),
        ({"scope": ""}, ""),
        ({"scope": "read:transactions"}, "read:transactions"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_token_endpoint_scope_absent_is_default_and_empty_is_none(server, data, scope, as_json):
    body = {"json": data} if as_json else {"data": data}
    resp = requests.post(server.token_url, timeout=10, **body)
    assert resp.status_code == 200
    claims = jwt.get_unverified_claims(resp.json()["access_token"])
    assert resp.json()["scope"] == claims.get("scope", "") == scope


def test_cli_empty_scope_agrees_with_the_token_endpoint(tmp_path, server):
    token = cli(tmp_path, "auth.dev_issuer", "--scope", "")
    from_endpoint = requests.post(server.token_url, data={"scope": ""}, timeout=10).json()
    assert "scope" not in jwt.get_unverified_claims(token)
    assert "scope" not in jwt.get_unverified_claims(from_endpoint["access_token"])


@pytest.mark.parametrize("sub", ["", "a\x00b", "tab\there", "x" * 256, "\x7f"])
@pytest.mark.parametrize("as_json", [False, True])
def test_token_endpoint_refuses_a_sub_the_api_refuses(server, sub, as_json):
    body = {"json": {"sub": sub}} if as_json else {"data": {"sub": sub}}
    resp = requests.post(server.token_url, timeout=10, **body)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"
    assert "access_token" not in resp.json()


def test_token_endpoint_sub_of_255_characters_is_accepted_by_the_api(server, dev_client):
    sub = "é" * 255
    resp = requests.post(server.token_url, json={"sub": sub}, timeout=10)
    token = resp.json()["access_token"]
    ping = dev_client.get("/secured/ping", headers={"Authorization": f"Bearer {token}"})
    assert (resp.status_code, ping.status_code) == (200, 200)


@pytest.mark.parametrize("sub", ["", "a\x01b", "x" * 256])
def test_cli_refuses_a_sub_the_api_refuses(tmp_path, sub):
    env = hermetic_env(tmp_path, DEV_ISSUER_KEY_FILE=str(tmp_path / "dev-issuer-key.pem"))
    done = run_command([PYTHON, "-m", "auth.dev_issuer", "--sub", sub], env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "--sub: must be 1-255 characters without control characters" in done.stderr
