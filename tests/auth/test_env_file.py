"""``.env`` read whole or refused in one line (``auth.env_file``, SPEC §2)."""

from __future__ import annotations

import logging
import os

import pytest

from auth.env_file import load_env_file
from auth.variables import ConfigError


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("CASHMAN_T_FIRST", "CASHMAN_T_AFTER", "CASHMAN_T_BOM", "CASHMAN_T_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_line_that_is_not_name_value_is_refused_and_nothing_is_set(tmp_path, clean_env):
    path = tmp_path / ".env"
    path.write_text('CASHMAN_T_FIRST=1\nAPI_AUDIENCE="unclosed\nCASHMAN_T_AFTER=2\n')
    # a logging set-up that silences python-dotenv's own warning changes nothing
    logging.disable(logging.WARNING)
    try:
        with pytest.raises(ConfigError, match=r"^\.env: line 2 is not NAME=value"):
            load_env_file(path)
    finally:
        logging.disable(logging.NOTSET)

    assert "CASHMAN_T_FIRST" not in os.environ and "CASHMAN_T_AFTER" not in os.environ


def test_a_missing_file_sets_nothing_and_a_byte_order_mark_is_no_part_of_a_name(
    tmp_path, clean_env
):
    load_env_file(tmp_path / "absent.env")
    path = tmp_path / ".env"
    path.write_bytes(b"\xef\xbb\xbfCASHMAN_T_BOM=yes\n")
    load_env_file(path)

    assert os.environ["CASHMAN_T_BOM"] == "yes"


@pytest.mark.parametrize("bare", ["CASHMAN_T_AFTER", "export CASHMAN_T_AFTER"])
def test_a_bare_name_is_refused(tmp_path, clean_env, bare):
    # "AUTH_DPOP" without "=required": python-dotenv kept it as a name with no value, and
    # the setting it meant was silently the default
    path = tmp_path / ".env"
    path.write_text(f"CASHMAN_T_FIRST=1\n{bare}\n")
    with pytest.raises(ConfigError, match=r"^\.env: line 2 is not NAME=value"):
        load_env_file(path)
    assert "CASHMAN_T_FIRST" not in os.environ


@pytest.mark.parametrize("quote", ["", "'", '"'])
def test_values_are_taken_literally(tmp_path, clean_env, quote):
    # python-dotenv expanded ${NAME}, even within single quotes: a secret holding one
    # silently changed (and an unset NAME shortened it)
    clean_env.setenv("CASHMAN_T_FIRST", "expanded")
    path = tmp_path / ".env"
    path.write_text(f"CASHMAN_T_SECRET={quote}a${{CASHMAN_T_FIRST}}b${{CASHMAN_T_NOPE}}c{quote}\n")
    load_env_file(path)
    assert os.environ["CASHMAN_T_SECRET"] == "a${CASHMAN_T_FIRST}b${CASHMAN_T_NOPE}c"
