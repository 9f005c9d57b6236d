"""Fixtures of the topology tests: PostgreSQL, PgBouncer and HAProxy must all be there.

Without them these tests cannot say anything, so they are skipped with the
reason in the summary, except when ``CASHMAN_REQUIRE_TOPOLOGY=1`` (CI sets it):
then a missing ``haproxy`` or ``pgbouncer`` or an unreachable PostgreSQL fails
the run loudly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.topology.daemon import ComponentMissing, require_program
from tests.topology.database import (
    Postgres,
    PostgresUnavailable,
    check_reachable,
    scratch_database,
)

pytestmark = pytest.mark.slow


def _missing(reason: str) -> None:
    if os.environ.get("CASHMAN_REQUIRE_TOPOLOGY") == "1":
        pytest.fail(f"CASHMAN_REQUIRE_TOPOLOGY=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason} (CASHMAN_REQUIRE_TOPOLOGY=1 makes this a failure)")


@pytest.fixture(scope="session")
def postgres_server() -> Postgres:
    """The PostgreSQL server the topology runs on (``TEST_POSTGRES_URL`` or the local one)."""
    server = Postgres.from_env()
    try:
        check_reachable(server)
    except PostgresUnavailable as exc:
        _missing(str(exc))
    return server


@pytest.fixture(scope="session")
def topology_programs() -> None:
    """HAProxy and PgBouncer, from Debian's packages."""
    for program in ("haproxy", "pgbouncer"):
        try:
            require_program(program, program)
        except ComponentMissing as exc:
            _missing(str(exc))


@pytest.fixture
def scratch_db(postgres_server: Postgres, topology_programs: None) -> Iterator[Postgres]:
    """An empty database of the test's own, dropped after it."""
    with scratch_database(postgres_server) as database:
        yield database
