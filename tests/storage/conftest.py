"""Storage tests run inside an app context of a fresh, migrated database."""

from __future__ import annotations

import pytest


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def db(app):
    return app.extensions["cashman.db"]
