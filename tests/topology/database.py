"""A throw-away PostgreSQL database for one topology run: created here, dropped here.

The topology reaches PostgreSQL through PgBouncer, whose ``[databases]`` entry
names a database rather than a schema (PgBouncer cannot pass a per-client
``search_path``), so each run gets a database of its own on the server named
by ``TEST_POSTGRES_URL`` (default: the local one, user ``postgres``, trust).
Checks read the rows straight from PostgreSQL, never through the API.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import psycopg
from sqlalchemy.engine import URL, make_url

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CONNECT_TIMEOUT_S = 5


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server of the tests cannot be reached."""


@dataclass(frozen=True)
class Postgres:
    """Where one PostgreSQL database is: enough for psycopg, PgBouncer and SQLAlchemy."""

    host: str
    port: int
    user: str
    password: str | None
    dbname: str

    @classmethod
    def from_env(cls) -> Postgres:
        """The server of ``TEST_POSTGRES_URL`` (or the local default), its own database."""
        url = make_url(os.environ.get("TEST_POSTGRES_URL", "").strip() or DEFAULT_POSTGRES_URL)
        return cls(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            dbname=url.database or "postgres",
        )

    def connect(self, *, autocommit: bool = True) -> psycopg.Connection:
        """A direct connection (bypassing any pooler)."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT_S,
        )

    def url(self, *, host: str | None = None, port: int | None = None) -> str:
        """A SQLAlchemy ``postgresql+psycopg`` URL, optionally through another host and port."""
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password,
            host=host or self.host,
            port=port or self.port,
            database=self.dbname,
        ).render_as_string(hide_password=False)


def check_reachable(server: Postgres) -> None:
    """``PostgresUnavailable`` naming the address (not the password) unless it answers."""
    try:
        server.connect().close()
    except psycopg.OperationalError:
        raise PostgresUnavailable(
            f"PostgreSQL at {server.host}:{server.port} (TEST_POSTGRES_URL) is not reachable"
        ) from None


@contextmanager
def scratch_database(server: Postgres, prefix: str = "cashman_topology") -> Iterator[Postgres]:
    """A new empty database on ``server`` for the block, dropped (connections and all) after."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with server.connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield replace(server, dbname=name)
    finally:
        with server.connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
