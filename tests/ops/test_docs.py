"""The README and .env.example say what is true: their examples run, every setting is listed."""

from __future__ import annotations

import re

import pytest
from dotenv import dotenv_values

from tests.support.processes import (
    GUNICORN_SETTINGS,
    PROJECT_SETTINGS,
    PYTHON,
    ROOT,
    SERVER_SETTINGS,
    SPEC_SETTINGS,
    hermetic_env,
    run_command,
)

README = (ROOT / "README.md").read_text()
ENV_EXAMPLE = ROOT / ".env.example"


@pytest.mark.parametrize(
    "name", SPEC_SETTINGS + PROJECT_SETTINGS + SERVER_SETTINGS + GUNICORN_SETTINGS
)
def test_every_setting_documented(name):
    assert re.search(rf"^# {name}=", ENV_EXAMPLE.read_text(), re.M), name
    assert f"`{name}`" in README, name


def test_env_example_sets_nothing_as_shipped():
    assert dotenv_values(ENV_EXAMPLE) == {}


def test_readme_ci_example_passes(tmp_path):
    (block,) = re.findall(r"```python\n(# test_cashman_contract\.py\n.*?)```", README, re.S)
    (tmp_path / "test_cashman_contract.py").write_text(block)
    result = run_command(
        [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        hermetic_env(tmp_path, PYTHONPATH=str(ROOT)),
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "6 passed" in result.stdout
