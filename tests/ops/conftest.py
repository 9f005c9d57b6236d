"""Fixtures shared by the ops tests."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def log_lines(caplog):
    """The request-log records of the test, parsed."""
    caplog.set_level("INFO", logger="cashman.request")

    def read() -> list[dict]:
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == "cashman.request"]

    return read
