"""Bring the schema up to date (SPEC §5): at start and as ``python -m cashman.migrate``;
step it back with ``python -m cashman.migrate --to REVISION`` before a rollback.

Several workers or instances may start at once against an empty database, so
every migration runs under ``cashman.migration_lock`` (an advisory lock in the
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
from auth.env_file import load_env_file
from cashman.config import PROJECT_ROOT, database_url_from_env
from cashman.database import build_engine
from cashman.migration_lock import migration_lock
from cashman.schema_revisions import (
    HEAD,
    SCRIPT_LOCATION,
    check_database,
    is_downgrade,
    known_revisions,
    resolve_target,
)
from cashman.startup import exit_on_config_error


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration without an ini file; the scripts ship in the package."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to the newest revision, under a lock."""
    migrate_to(engine, HEAD)


def migrate_to(engine: Engine, target: str) -> str | None:
    """Upgrade or downgrade the database behind ``engine`` to exactly ``target`` (a revision
    id or ``head``), under a lock; the revision it was at (``None``: not migrated yet).

    Everything runs in one transaction, committed at the end: on PostgreSQL the
    lock, the version check and the DDL (transactional there) commit or roll
    back together. ``ConfigError`` naming ``--to`` for a revision this release
    does not know, or ``DATABASE_URL`` when the database is at one; driver
    errors propagate.
    """
    known = known_revisions()
    revision = resolve_target(target, known)
    with migration_lock(engine) as connection:
        # before Alembic, which would stop on an unknown revision with a bare CommandError
        heads = MigrationContext.configure(connection).get_current_heads()
        current = check_database(heads, known)
        if is_downgrade(current, revision, known):
            command.downgrade(alembic_config(connection), revision)
        else:
            command.upgrade(alembic_config(connection), revision)
        connection.commit()
    return current


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """``--help`` prints the usage and exits 0; anything unknown is a usage error (exit 2)."""
    parser = argparse.ArgumentParser(
        prog="python -m cashman.migrate",
        description="Bring the database named by DATABASE_URL (or .env) up to the newest "
        "schema. Safe to run while the API runs or while another upgrade races it.",
    )
    parser.add_argument(
        "--to",
        metavar="REVISION",
        default=None,
        help=f"upgrade or downgrade to exactly this revision instead (one of "
        f"{', '.join(known_revisions())}, or head); before rolling back to an older "
        "release, step back to its newest revision with the release being replaced",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``python -m cashman.migrate [--to REVISION]``: migrate the database named by
    ``DATABASE_URL``; one line and exit status 2 when it cannot (``cashman.startup``)."""
    args = parse_args(argv)
    with exit_on_config_error():
        # an unknown --to is refused before any setting is read or the database touched
        target = HEAD if args.to is None else resolve_target(args.to, known_revisions())
        load_env_file(PROJECT_ROOT / ".env")
        url = database_url_from_env()
        before = migrate_url(url, target)
    shown = displayable_url(url)
    if args.to is None:
        print(f"cashman: database schema is up to date ({shown})")
    else:
        was = before or "empty"
        print(f"cashman: database schema is at revision {target}, was {was} ({shown})")
    return 0


def displayable_url(url: str) -> str:
    """``url`` for a deploy log: the password of its user part as ``***``, and without
    the query parameters that may hold one (libpq's ``password``, ``sslpassword``, in
    any case), which SQLAlchemy's rendering would show."""
    parsed = make_url(url)
    secret = [name for name in parsed.query if "password" in name.lower()]
    return parsed.difference_update_query(secret).render_as_string(hide_password=True)


def upgrade_url(url: str) -> None:
    """Upgrade the database at ``url``; ``ConfigError`` naming ``DATABASE_URL`` if it fails."""
    migrate_url(url, HEAD)


def migrate_url(url: str, target: str) -> str | None:
    """:func:`migrate_to` on the database at ``url``: the revision it was at, or
    ``ConfigError`` naming ``DATABASE_URL`` if it fails."""
    with schema_errors():
        engine = build_engine(url)
        try:
            return migrate_to(engine, target)
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
