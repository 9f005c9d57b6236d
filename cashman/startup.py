"""Start, or stop with one line: how every entry refuses a bad setting (SPEC §2, §6).

``python server.py``, ``gunicorn server:app`` (through ``gunicorn.conf.py``),
``python -m cashman.serve`` and ``python -m cashman.migrate`` all stop the
same way when a setting is wrong or the database cannot be brought up to
date: one line ``cashman: configuration error: <VARIABLE>: <problem>`` on
stderr and exit status 2, never a stack trace, and (for the servers) before
any worker starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import NoReturn

from auth import ConfigError, dev_issuer
from cashman.config import Settings
from cashman.database import sqlite_in_memory

CONFIG_ERROR_STATUS = 2
PREFIX = "cashman: configuration error: "

# the database URL this process (a server's parent) brought up to date; a forked worker
# inherits it and leaves the schema alone (SPEC §6: migrated once)
_migrated_url: str | None = None


def fail(message: str) -> NoReturn:
    """Print ``cashman: configuration error: <message>`` on stderr and exit with status 2."""
    print(PREFIX + message, file=sys.stderr, flush=True)
    # SystemExit, not os._exit: a server's own clean-up (sockets, pid file) still runs
    sys.exit(CONFIG_ERROR_STATUS)


@contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Turn a ``ConfigError`` raised in the block into :func:`fail`'s one line."""
    try:
        yield
    except ConfigError as exc:
        fail(str(exc))


def check_production_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings a production entry runs with, or one line and exit 2.

    Refuses the development-issuer switch (SPEC §6: no production entry can
    turn it on), then validates every SPEC §2 variable of ``env`` (default:
    the process environment).
    """
    env = os.environ if env is None else env
    refusal = dev_issuer.production_refusal(dict(env))
    if refusal:
        fail(refusal)
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        fail(str(exc))
    refuse_memory_database(settings.database_url)
    return settings


def refuse_memory_database(database_url: str) -> None:
    """One line and exit 2 when ``database_url`` is a SQLite database in memory: a server's
    every connection, thread and worker would get its own, empty one (no schema, so every
    request a 503 while ``/readyz`` said ready; the replay and idempotency records unshared:
    SPEC §3a step 5, §5). In process, as tests build the app, it is one connection's."""
    if sqlite_in_memory(database_url):
        fail("DATABASE_URL: a SQLite database in memory cannot serve a server; name a file")


def migrate_or_exit(database_url: str) -> None:
    """Bring the schema up to date (SPEC §5), or one line naming ``DATABASE_URL`` and exit 2.

    Runs in a server's parent process before it forks: the engine is disposed
    afterwards so that no pooled connection is inherited by a worker.

    Once per process and database: gunicorn runs its configuration file again on
    SIGHUP, in a master whose imported code (what its new workers run) has not changed,
    so the schema it brought up to date still fits them; migrating again would stop the
    server whenever the database is out of reach at that moment.
    """
    global _migrated_url
    if _migrated_url == database_url:
        return
    # imported here: ``python -m cashman.migrate`` must run a module not yet imported
    from cashman.migrate import upgrade_url

    with exit_on_config_error():
        upgrade_url(database_url)
    _migrated_url = database_url


def migrated_by_parent(database_url: str) -> bool:
    """Whether the server's parent already brought ``database_url`` up to date before
    forking this worker (``migrate_or_exit``): the worker then does not migrate again, so
    a worker replaced while the database is out of reach still starts and serves what
    needs no database (``/ping``), instead of failing and taking the server down."""
    return _migrated_url is not None and _migrated_url == database_url
