"""The README and .env.example say what is true: their examples run, every setting is listed."""

from __future__ import annotations

import re
import subprocess

import pytest
from dotenv import dotenv_values

from tests.ops.processes import PYTHON, ROOT, base_env

README = (ROOT / "README.md").read_text()
ENV_EXAMPLE = ROOT / ".env.example"
SPEC_SETTINGS = (
    "AUTH0_DOMAIN",
    "API_AUDIENCE",
    "AUTH0_ISSUER",
    "AUTH0_JWKS_URL",
    "AUTH_ALGORITHMS",
    "AUTH_LEEWAY",
    "AUTH_STRICT_RFC9068",
    "JWKS_CACHE_TTL",
    "JWKS_MIN_REFRESH_INTERVAL",
    "JWKS_MAX_STALE",
    "DATABASE_URL",
    "CORS_ORIGINS",
    "PORT",
)
EXTRA_SETTINGS = (
    "AUTH_TOKEN_CACHE_SIZE",
    "DEV_ISSUER_KEY_FILE",
    "CASHMAN_DEV_ISSUER",
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_LOGLEVEL",
)


@pytest.mark.parametrize("name", SPEC_SETTINGS + EXTRA_SETTINGS)
def test_every_setting_documented(name):
    assert re.search(rf"^# {name}=", ENV_EXAMPLE.read_text(), re.M), name
    assert f"`{name}`" in README, name


def test_env_example_sets_nothing_as_shipped():
    assert dotenv_values(ENV_EXAMPLE) == {}


def test_readme_ci_example_passes(tmp_path):
    (block,) = re.findall(r"```python\n(# test_cashman_contract\.py\n.*?)```", README, re.S)
    (tmp_path / "test_cashman_contract.py").write_text(block)
    result = subprocess.run(
        [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=base_env(tmp_path, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "6 passed" in result.stdout
