"""Bring the schema up to date (SPEC §5): at start and as ``python -m cashman.migrate``.

Several workers or instances may start at once against an empty database, so
the upgrade runs under ``cashman.migration_lock`` (an advisory lock in the
migration's own transaction on PostgreSQL, a file lock on SQLite). The second
starter waits, then finds nothing left to do.

Whatever stops a migration reaches an operator as one line naming
``DATABASE_URL`` (:func:`schema_errors`), never a traceback: an unreachable
database, and a version table this release cannot migrate from (a newer
release's revision, ``cashman.schema_revisions``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from auth import ConfigError
from cashman.config import database_url_from_env
from cashman.database import build_engine
from cashman.migration_lock import migration_lock
from cashman.schema_revisions import SCRIPT_LOCATION, check_database, known_revisions
from cashman.startup import exit_on_config_error


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration without an ini file; the scripts ship in the package."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to the newest revision, under a lock.

    Everything runs in one transaction, committed at the end: on PostgreSQL the
    lock, the version check and the DDL (transactional there) commit or roll
    back together. ``ConfigError`` naming ``DATABASE_URL`` when the database is at
    a revision this release does not know; driver errors propagate.
    """
    with migration_lock(engine) as connection:
        # before Alembic, which would stop on an unknown revision with a bare CommandError
        heads = MigrationContext.configure(connection).get_current_heads()
        check_database(heads, known_revisions())
        command.upgrade(alembic_config(connection), "head")
        connection.commit()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """``--help`` prints the usage and exits 0; anything unknown is a usage error (exit 2)."""
    parser = argparse.ArgumentParser(
        prog="python -m cashman.migrate",
        description="Bring the database named by DATABASE_URL (or .env) up to the newest "
        "schema. Safe to run while the API runs or while another upgrade races it.",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``python -m cashman.migrate``: upgrade the database named by ``DATABASE_URL``."""
    parse_args(argv)
    from dotenv import load_dotenv

    load_dotenv(override=False)
    with exit_on_config_error():
        url = database_url_from_env()
        upgrade_url(url)
    print(f"cashman: database schema is up to date ({make_url(url).render_as_string()})")
    return 0


def upgrade_url(url: str) -> None:
    """Upgrade the database at ``url``; ``ConfigError`` naming ``DATABASE_URL`` if it fails."""
    with schema_errors():
        engine = build_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()


@contextmanager
def schema_errors() -> Iterator[None]:
    """Turn what stops a migration in the block into ``ConfigError`` naming ``DATABASE_URL``.

    ``ConfigError`` itself passes through. The driver's text is left out (it may
    hold the URL, and a password with it); Alembic's is one sentence about
    revisions, kept, on one line.
    """
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        # unreachable server, wrong credentials, a directory that cannot be made:
        # one line naming the variable, as at API start-up, never a traceback
        problem = f"cannot bring the database schema up to date ({type(exc).__name__})"
        raise ConfigError("DATABASE_URL", problem) from None
    except (CommandError, RevisionError) as exc:
        # what the checks before Alembic do not foresee: still one line, with the way out
        detail = " ".join(str(exc).split())
        problem = (
            f"cannot migrate the database schema: {detail}; check its alembic_version table "
            f"(this release knows revisions {', '.join(known_revisions())})"
        )
        raise ConfigError("DATABASE_URL", problem) from None


if __name__ == "__main__":
    sys.exit(main())
