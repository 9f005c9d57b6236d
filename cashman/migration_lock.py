"""The lock every schema migration runs under (SPEC §5): one migrator at a time.

Several workers or instances may start at once against an empty database, so
a migration holds this lock: on PostgreSQL ``pg_advisory_xact_lock``, taken in
the migration's own transaction and released by its commit or rollback (a
session-level lock would be taken and released in different transactions,
which a transaction pooler such as PgBouncer may run on different server
connections: the release misses and the lock leaks, SPEC section 8); on
SQLite an exclusive ``fcntl`` lock on a file beside the database
(``<file>.migrate-lock``). The second migrator waits, then finds nothing left
to do.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from cashman.pg_deadline import unbounded

# any constant both workers agree on; "cashman" in ASCII
ADVISORY_LOCK_ID = 0x636173686D616E


@contextmanager
def migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection of ``engine``, held by one migrator at a time until the block ends.

    The caller commits; leaving the block without a commit rolls back. Raises
    ``OSError`` when the SQLite lock file cannot be opened, and driver errors.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection, unbounded(connection.connection.dbapi_connection):
            # held until this transaction ends: alembic runs inside it (it joins a
            # transaction already begun), and leaving the block rolls back if it raised
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
            yield connection
        return
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        with engine.connect() as connection:
            yield connection
        return
    with open(f"{database}.migrate-lock", "a+b") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
