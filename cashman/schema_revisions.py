"""The schema revisions this release knows, and the one-line refusals about them (SPEC §5, §6).

A database records its revision in Alembic's ``alembic_version`` table. When a
newer release has migrated it (and the app was then rolled back), that
revision is one this release has no script for: Alembic would stop with a
``CommandError`` traceback. These checks run first and say what is wrong and
what to do instead, as a ``ConfigError`` (``<VARIABLE>: <problem>``, one line,
exit status 2 at every entry, ``cashman.startup``).

The history is linear (each revision has one parent), so "older" and "newer"
are positions in :func:`known_revisions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

from alembic.script import ScriptDirectory

from auth import ConfigError

SCRIPT_LOCATION = str(files("cashman") / "migrations")
HEAD = "head"
# how a stepped-back database is named in the messages: the command that does it
MIGRATE_COMMAND = "python -m cashman.migrate"


def known_revisions() -> list[str]:
    """This release's revision ids, oldest first (e.g. ``["0001", "0002", "0003"]``)."""
    script = ScriptDirectory(SCRIPT_LOCATION)
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def resolve_target(target: str, known: Sequence[str]) -> str:
    """The revision id ``target`` names: ``head`` is the newest of ``known``.

    Raises ``ConfigError("--to", ...)`` for anything else this release does not
    know; ``base`` (no schema at all: every table dropped) is refused too.
    """
    if target == HEAD:
        return known[-1]
    if target in known:
        return target
    problem = f"unknown schema revision {target!r}: this release knows {', '.join(known)} and head"
    raise ConfigError("--to", problem)


def check_database(current: Sequence[str], known: Sequence[str]) -> str | None:
    """The database's one revision (``None``: not migrated yet), or ``ConfigError`` naming
    ``DATABASE_URL`` when this release cannot migrate from ``current`` (the rows of
    ``alembic_version``)."""
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        problem = (
            f"the database is at schema revision {', '.join(unknown)}, which this release "
            f"does not know (its newest is {known[-1]}): a newer release migrated it; run that "
            f"release's '{MIGRATE_COMMAND} --to {known[-1]}' to step it back, or deploy the "
            "newer release"
        )
        raise ConfigError("DATABASE_URL", problem)
    if len(current) > 1:
        # a linear history has one current revision: several rows are a hand edit or a
        # foreign tool's, and Alembic could not tell which of them the schema matches
        problem = (
            f"the database's alembic_version table holds several revisions "
            f"({', '.join(current)}): leave only the one its schema is at"
        )
        raise ConfigError("DATABASE_URL", problem)
    return current[0] if current else None


def is_downgrade(current: str | None, target: str, known: Sequence[str]) -> bool:
    """Whether going from ``current`` to ``target`` (both in ``known``) steps back."""
    return current is not None and known.index(target) < known.index(current)
