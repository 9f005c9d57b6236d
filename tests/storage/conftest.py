"""Storage tests run inside an app context of a fresh, migrated database; the DPoP
replay store's on one or two instances' engines of such a database."""

from __future__ import annotations

import pytest

from cashman.database import Database
from cashman.dpop_replay import DatabaseReplayStore
from cashman.migrate import upgrade
from tests.support.replay_store import Clock


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def db(app):
    return app.extensions["cashman.db"]


@pytest.fixture
def instances(database_url):
    """Two instances' databases on one migrated database (each its own engine and pool)."""
    dbs = [Database(database_url), Database(database_url)]
    upgrade(dbs[0].engine)
    yield dbs
    for one in dbs:
        one.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_store(clock):
    """``make_store(engine, **options)`` -> a DPoP replay store disposed of after the test."""
    made: list[DatabaseReplayStore] = []

    def make(engine, **options) -> DatabaseReplayStore:
        # no skew margin and no time budget unless a test asks: the walk's tests count
        # rows expired a second ago and batches per run, whatever the machine's speed
        # (the margin and the budget have tests of their own)
        options.setdefault("cleanup_skew_margin_s", 0)
        options.setdefault("cleanup_budget_s", 3600)
        store = DatabaseReplayStore(engine, clock=options.pop("clock", clock), **options)
        made.append(store)
        return store

    yield make
    for store in made:
        store.dispose()


@pytest.fixture
def store(instances, make_store) -> DatabaseReplayStore:
    return make_store(instances[0].engine)
