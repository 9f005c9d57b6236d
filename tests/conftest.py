"""Shared fixtures: the test kit's (``auth.pytest_plugin``: an RSA key and its JWKS
served through ``responses``), a fresh app and database per test, a client, and a
``token(...)`` factory.

Tests under ``tests/api`` and ``tests/storage`` (and any marked ``postgres``)
run once per database backend: SQLite always, PostgreSQL too when
``TEST_POSTGRES_URL`` is set, each test in its own throw-away schema. With
``CASHMAN_REQUIRE_POSTGRES=1`` a missing or unreachable PostgreSQL fails the
run at start instead of quietly testing SQLite only.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from auth.testing import AuthKit, DPoPKey
from cashman import create_app
from cashman.config import Settings

# The kit's fixtures, as users' suites get them: auth_kit, auth_jwks, auth_jwks_server.
pytest_plugins = ["auth.pytest_plugin"]

READ = "read:transactions"
WRITE = "write:transactions"

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "").strip()
BACKENDS = ("sqlite", "postgresql") if POSTGRES_URL else ("sqlite",)
_PER_BACKEND_DIRS = ("api", "storage")
_TESTS_ROOT = Path(__file__).resolve().parent


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail the whole run, loudly, when PostgreSQL is required but not usable."""
    if os.environ.get("CASHMAN_REQUIRE_POSTGRES") != "1":
        return
    if not POSTGRES_URL:
        pytest.exit("CASHMAN_REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set", returncode=3)
    try:
        with postgres_admin().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        pytest.exit(
            f"CASHMAN_REQUIRE_POSTGRES=1 but PostgreSQL is unreachable: {exc}", returncode=3
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run database-backed API and storage tests against every available backend, and
    ``postgres_only`` tests against PostgreSQL alone."""
    if "database_backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("postgres_only"):
        metafunc.parametrize("database_backend", [_postgres_only_param()], indirect=True)
        return
    relative = metafunc.definition.path.resolve().relative_to(_TESTS_ROOT)
    if relative.parts[0] in _PER_BACKEND_DIRS or metafunc.definition.get_closest_marker("postgres"):
        metafunc.parametrize("database_backend", BACKENDS, indirect=True)


def _postgres_only_param() -> object:
    """The one backend of a ``postgres_only`` test. Without ``TEST_POSTGRES_URL`` it is skipped
    with that reason, unless PostgreSQL is required: then it runs, and fails."""
    if POSTGRES_URL or os.environ.get("CASHMAN_REQUIRE_POSTGRES") == "1":
        return "postgresql"
    return pytest.param(
        "postgresql", marks=pytest.mark.skip(reason="PostgreSQL only: TEST_POSTGRES_URL is not set")
    )


_admin_engine: Engine | None = None


def postgres_admin() -> Engine:
    """One autocommit engine on ``TEST_POSTGRES_URL`` to create and drop test schemas."""
    global _admin_engine
    if _admin_engine is None:
        _admin_engine = create_engine(
            POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
        )
    return _admin_engine


def postgres_schema_url(schema: str) -> str:
    """``TEST_POSTGRES_URL`` with ``search_path`` set to ``schema``."""
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def database_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql`` (parametrized for tests/api and tests/storage)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(database_backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if database_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'cashman.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with postgres_admin().connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield postgres_schema_url(schema)
    finally:
        with postgres_admin().connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def kit(auth_kit: AuthKit) -> AuthKit:
    """The plugin's ``auth_kit`` (a fresh issuer), under the short name these tests use."""
    return auth_kit


@pytest.fixture
def jwks(auth_jwks):
    """The plugin's ``auth_jwks`` (the kit's JWKS through ``responses``; the mock, to count
    calls), under the short name these tests use."""
    return auth_jwks


@pytest.fixture
def env(kit, database_url) -> dict[str, str]:
    """The environment the app is built from; tests may change it before ``app``."""
    return {**kit.env(), "DATABASE_URL": database_url}


@pytest.fixture
def app(env, jwks):
    app = create_app(Settings.from_env(env))
    yield app
    app.extensions["cashman.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(kit):
    """``token(scopes=..., **claims)`` -> a signed access token from the kit."""

    def make(scopes=(READ, WRITE), **claims):
        return kit.mint(scopes=scopes, claims=claims)

    return make


@pytest.fixture(scope="module")
def client_key() -> DPoPKey:
    """A DPoP client's key pair (ES256; one per test module: keys are not state)."""
    return DPoPKey()


@pytest.fixture
def bearer(token):
    """``bearer(scopes=..., **claims)`` -> headers with a fresh token."""

    def make(scopes=(READ, WRITE), **claims):
        return {"Authorization": f"Bearer {token(scopes, **claims)}"}

    return make
