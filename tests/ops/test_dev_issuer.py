"""The development issuer: persisted key, loopback-only JWKS, tokens through the real verifier."""

from __future__ import annotations

import stat
import subprocess

import pytest
from jose import jwt

from auth import dev_issuer
from cashman import create_app
from cashman.config import Settings
from tests.support.processes import PYTHON, ROOT, hermetic_env, run_command

READ = "read:transactions"
WRITE = "write:transactions"


@pytest.fixture
def key_file(tmp_path):
    return tmp_path / "instance" / "dev-issuer-key.pem"


@pytest.fixture
def issuer(key_file):
    return dev_issuer.DevIssuer.load(key_file)


@pytest.fixture
def jwks_server(issuer):
    server = dev_issuer.serve_jwks(issuer)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def dev_client(jwks_server, tmp_path):
    """The real app trusting the dev issuer, whose JWKS it fetches over HTTP."""
    env = dev_issuer.environment(jwks_server, {"DATABASE_URL": f"sqlite:///{tmp_path / 'db'}"})
    return create_app(Settings.from_env(env)).test_client()


def mint_command(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = hermetic_env(
        tmp_path, DEV_ISSUER_KEY_FILE=str(tmp_path / "instance" / "dev-issuer-key.pem")
    )
    return run_command([PYTHON, "-m", "auth.dev_issuer", *args], env)


def test_key_file_created_on_first_use_with_mode_0600(issuer, key_file):
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_key_persisted_across_loads(issuer, key_file):
    assert dev_issuer.DevIssuer.load(key_file).kid == issuer.kid


def test_default_key_file_is_git_ignored_and_untracked():
    path = dev_issuer.DEFAULT_KEY_FILE.relative_to(ROOT)
    ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, check=False)
    tracked = subprocess.run(
        ["git", "ls-files", "instance"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert (ignored.returncode, tracked.stdout) == (0, "")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com", ""])  # noqa: S104
def test_jwks_server_refuses_non_loopback_host(issuer, host):
    with pytest.raises(dev_issuer.DevIssuerError):
        dev_issuer.serve_jwks(issuer, host=host)


@pytest.mark.parametrize(
    ("host", "is_loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", False),  # SPEC §2: localhost, 127.0.0.1 and ::1 only
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104
        ("10.0.0.1", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host, is_loopback):
    assert dev_issuer.is_loopback(host) is is_loopback


def test_jwks_served_over_http_on_loopback(jwks_server, issuer):
    import requests

    resp = requests.get(dev_issuer.jwks_url(jwks_server), timeout=5)
    assert (resp.status_code, resp.json()) == (200, issuer.jwks())
    assert jwks_server.server_address[0] == "127.0.0.1"


def test_jwks_holds_no_private_part(issuer):
    (key,) = issuer.jwks()["keys"]
    assert set(key) == {"kty", "use", "alg", "kid", "n", "e"}


def test_minted_token_accepted_by_the_real_verifier(dev_client, issuer):
    token = issuer.mint(sub="alice")
    resp = dev_client.get("/secured/ping", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200


def test_token_from_another_key_refused(dev_client, tmp_path):
    stranger = dev_issuer.DevIssuer.load(tmp_path / "other.pem")
    resp = dev_client.get("/secured/ping", headers={"Authorization": f"Bearer {stranger.mint()}"})
    assert (resp.status_code, resp.json["code"]) == (401, "invalid_token")


def test_mint_command_token_has_requested_claims(tmp_path):
    result = mint_command(tmp_path, "--sub", "alice", "--scope", READ, "--expires-in", "120")
    claims = jwt.get_unverified_claims(result.stdout.strip())
    assert (claims["sub"], claims["scope"], claims["exp"] - claims["iat"]) == ("alice", READ, 120)
    assert (claims["iss"], claims["aud"]) == (dev_issuer.DEV_ISSUER, dev_issuer.DEV_AUDIENCE)


def test_mint_command_warns_it_is_a_development_issuer(tmp_path):
    result = mint_command(tmp_path)
    assert "DEVELOPMENT ISSUER" in result.stderr
    assert "production" in result.stderr


def test_mint_command_token_accepted_via_jwks_over_http(tmp_path, jwks_server):
    token = mint_command(tmp_path, "--sub", "bob").stdout.strip()
    env = dev_issuer.environment(jwks_server, {"DATABASE_URL": f"sqlite:///{tmp_path / 'db'}"})
    client = create_app(Settings.from_env(env)).test_client()
    resp = client.get("/secured/ping", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("scopes", "method", "status"),
    [
        ((READ,), "get", 200),
        ((READ,), "post", 403),
        ((WRITE,), "get", 403),
        ((READ, WRITE), "post", 201),
    ],
)
def test_minted_scopes_are_enforced(dev_client, issuer, scopes, method, status):
    headers = {"Authorization": f"Bearer {issuer.mint(scopes=scopes)}"}
    body = {"description": "Salary", "amount": 10} if method == "post" else None
    resp = getattr(dev_client, method)("/incomes", headers=headers, json=body)
    assert resp.status_code == status


@pytest.mark.parametrize(
    ("value", "refused"),
    [("", False), ("0", False), ("1", True), ("true", True), ("yes", True)],
)
def test_production_refuses_the_switch(value, refused):
    refusal = dev_issuer.production_refusal({dev_issuer.SWITCH: value})
    assert (refusal is not None) is refused


def test_production_refusal_names_both_production_entries():
    refusal = dev_issuer.production_refusal({dev_issuer.SWITCH: "1"})
    assert refusal is not None
    assert "\n" not in refusal
    assert "`python -m cashman.serve`" in refusal
    assert "`gunicorn -c gunicorn.conf.py server:app`" in refusal
    assert "`python server.py`" in refusal


def test_dev_issuer_does_not_import_cashman():
    code = "import sys, auth.dev_issuer; print(sorted(m for m in sys.modules if 'cashman' in m))"
    out = subprocess.run(
        [PYTHON, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
