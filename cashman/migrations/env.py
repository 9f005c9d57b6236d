"""Alembic environment (SPEC §5): migrates the connection ``cashman.migrate`` hands over,
or the database named by ``DATABASE_URL`` when run by the ``alembic`` command."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from cashman.database import build_engine
from cashman.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    """Upgrade the database behind ``connection`` to the newest revision, in one transaction."""
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate the handed-over connection, else a fresh engine on ``sqlalchemy.url`` or
    ``DATABASE_URL`` (its default when unset; ``ConfigError`` when it is not a valid URL)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    from cashman.config import database_url_from_env

    url = config.get_main_option("sqlalchemy.url") or database_url_from_env()
    # a schema change may rightly take longer than any request's statement
    engine = build_engine(url, answer_timeout_s=None)
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are unsupported: python -m cashman.migrate")
run_online()
