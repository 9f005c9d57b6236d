"""``gunicorn server:app``: checked once before workers, never the dev issuer, room for tokens."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from auth import dev_issuer
from tests.support.processes import PYTHON, ROOT, free_port, gunicorn, hermetic_env

pytestmark = pytest.mark.slow

AUDIENCE = "https://api.cashman.test/"
CONF_KEYS = (
    "bind",
    "workers",
    "worker_class",
    "threads",
    "timeout",
    "graceful_timeout",
    "keepalive",
    "limit_request_line",
    "limit_request_field_size",
    "limit_request_fields",
    "accesslog",
)


@pytest.fixture
def issuer(tmp_path):
    return dev_issuer.DevIssuer.load(tmp_path / "key.pem")


@pytest.fixture
def jwks_url(issuer):
    server = dev_issuer.serve_jwks(issuer)
    yield dev_issuer.jwks_url(server)
    server.shutdown()
    server.server_close()


@pytest.fixture
def tenant(jwks_url) -> dict[str, str]:
    """A valid production configuration: an issuer whose JWKS is served on loopback."""
    return {
        "AUTH0_ISSUER": dev_issuer.DEV_ISSUER,
        "AUTH0_JWKS_URL": jwks_url,
        "API_AUDIENCE": AUDIENCE,
    }


@pytest.fixture
def production(tmp_path, tenant):
    """gunicorn server:app with one worker, up and answering /ping."""
    port = free_port()
    server = gunicorn(tmp_path, port, **tenant)
    server.base_url = f"http://127.0.0.1:{port}"
    try:
        server.wait_http(f"{server.base_url}/ping")
        yield server
    finally:
        server.stop()


def conf_values(tmp_path, **env: str) -> dict[str, object]:
    """gunicorn.conf.py's settings as gunicorn would read them with ``env``."""
    code = (
        "import json, runpy; ns = runpy.run_path('gunicorn.conf.py'); "
        f"print(json.dumps({{k: ns[k] for k in {CONF_KEYS!r}}}))"
    )
    out = subprocess.run(
        [PYTHON, "-c", code],
        cwd=ROOT,
        env=hermetic_env(
            tmp_path, AUTH0_DOMAIN="example.us.auth0.com", API_AUDIENCE=AUDIENCE, **env
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_gunicorn_refuses_the_dev_issuer_switch(tmp_path, tenant, value):
    port = free_port()
    server = gunicorn(tmp_path, port, CASHMAN_DEV_ISSUER=value, **tenant)
    assert server.wait_exit() == 2
    (line,) = server.stderr.strip().splitlines()
    assert line.startswith("cashman: configuration error: CASHMAN_DEV_ISSUER: ")


def test_gunicorn_without_a_tenant_never_starts_the_dev_issuer(tmp_path):
    server = gunicorn(tmp_path, free_port(), CASHMAN_DEV_ISSUER="1", API_AUDIENCE=AUDIENCE)
    assert server.wait_exit() != 0
    assert "DEVELOPMENT ISSUER" not in server.stderr + server.stdout
    assert not (tmp_path / "dev-issuer-key.pem").exists()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"API_AUDIENCE": AUDIENCE}, "AUTH0_DOMAIN"),
        ({"AUTH0_DOMAIN": "example.us.auth0.com"}, "API_AUDIENCE"),
        (
            {"AUTH0_DOMAIN": "x.auth0.com", "API_AUDIENCE": "a", "AUTH_ALGORITHMS": "none"},
            "AUTH_ALGORITHMS",
        ),
        (
            {"AUTH0_DOMAIN": "x.auth0.com", "API_AUDIENCE": "a", "GUNICORN_WORKERS": "many"},
            "GUNICORN_WORKERS",
        ),
    ],
)
def test_gunicorn_bad_configuration_is_one_line(tmp_path, env, variable):
    server = gunicorn(tmp_path, free_port(), **env)
    assert server.wait_exit() == 2
    (line,) = server.stderr.strip().splitlines()
    assert line.startswith(f"cashman: configuration error: {variable}: ")


def test_gunicorn_serves_tokens_verified_over_http(production, issuer):
    resp = requests.get(
        f"{production.base_url}/secured/ping",
        headers={"Authorization": f"Bearer {issuer.mint(audience=AUDIENCE)}"},
        timeout=10,
    )
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("token_length", "status", "code"),
    [
        (8192, 401, "invalid_token"),  # the largest token allowed reaches the verifier
        (8193, 400, "invalid_header"),  # one more: the app's own JSON 400, not gunicorn's
        (16000, 400, "invalid_header"),
    ],
)
def test_gunicorn_lets_large_tokens_reach_the_app(production, token_length, status, code):
    headers = {"Authorization": "Bearer " + "a" * token_length, "X-Extra": "b" * 2000}
    resp = requests.get(f"{production.base_url}/secured/ping", headers=headers, timeout=10)
    assert (resp.status_code, resp.json()["code"]) == (status, code)


def test_gunicorn_logs_one_json_line_per_request_without_token(production, issuer):
    token = issuer.mint(audience=AUDIENCE)
    requests.get(
        f"{production.base_url}/secured/ping?access_token={token}",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-42"},
        timeout=10,
    )
    production.stop()
    lines = [json.loads(line) for line in production.stderr.splitlines() if '"request"' in line]
    (entry,) = [line for line in lines if line["request_id"] == "req-42"]
    assert (entry["path"], entry["status"], entry["sub"]) == ("/secured/ping", 200, "dev-user")
    assert token not in production.stderr + production.stdout


def test_gunicorn_logs_issuers_and_audience_once(production):
    production.stop()
    startup = [line for line in production.stderr.splitlines() if '"startup"' in line]
    assert len(startup) == 1
    assert json.loads(startup[0]) == {
        "event": "startup",
        "issuers": [dev_issuer.DEV_ISSUER],
        "audience": AUDIENCE,
    }


def test_gunicorn_conf_defaults(tmp_path):
    conf = conf_values(tmp_path)
    assert conf["bind"] == "0.0.0.0:8000"
    assert (conf["worker_class"], conf["threads"], conf["accesslog"]) == ("gthread", 4, None)
    assert 3 <= conf["workers"] <= 12
    assert conf["limit_request_line"] == 8190
    assert conf["limit_request_field_size"] >= 16384
    assert conf["timeout"] > 0 and conf["graceful_timeout"] > 0 and conf["keepalive"] > 0


@pytest.mark.parametrize(
    ("env", "key", "value"),
    [
        ({"PORT": "9000"}, "bind", "0.0.0.0:9000"),
        ({"GUNICORN_BIND": "127.0.0.1:7000"}, "bind", "127.0.0.1:7000"),
        ({"GUNICORN_WORKERS": "3"}, "workers", 3),
        ({"WEB_CONCURRENCY": "5"}, "workers", 5),
        ({"GUNICORN_WORKERS": "2", "WEB_CONCURRENCY": "5"}, "workers", 2),
        ({"GUNICORN_THREADS": "8"}, "threads", 8),
    ],
)
def test_gunicorn_conf_reads_the_environment(tmp_path, env, key, value):
    assert conf_values(tmp_path, **env)[key] == value
