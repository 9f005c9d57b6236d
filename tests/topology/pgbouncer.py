"""PgBouncer from the repository's ``deploy/pgbouncer.ini``, on a free loopback port.

The committed file is what runs: it ends with ``%include pgbouncer.site.ini``,
which PgBouncer resolves against its working directory. Here that directory
is the run's own and its site file holds only what differs from the compose
topology: the loopback listen address, the scratch database and trust
authentication (the test machine's PostgreSQL trusts loopback, as the
compose file's does not). PgBouncer refuses to run as root; as root it is
started with ``-u nobody`` (it reads its files before dropping privileges).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import psycopg

from tests.support.processes import ROOT, free_port
from tests.topology.daemon import Daemon, require_program
from tests.topology.database import Postgres

PGBOUNCER_INI = ROOT / "deploy" / "pgbouncer.ini"
SITE_FILE = "pgbouncer.site.ini"
USERLIST = "userlist.txt"
UNPRIVILEGED_USER = "nobody"


class PgBouncer(Daemon):
    """``pgbouncer deploy/pgbouncer.ini`` in front of ``database``, listening on loopback."""

    name = "pgbouncer"

    def __init__(
        self, workdir: Path, database: Postgres, site: Mapping[str, str] | None = None
    ) -> None:
        """``site``: further keys of the ``[pgbouncer]`` section (a focused test's own)."""
        super().__init__(workdir / "pgbouncer.log")
        self.program = require_program("pgbouncer", "pgbouncer")
        self.workdir = workdir
        self.database = database
        self.port = free_port()
        self.site = dict(site or {})

    def url(self) -> str:
        """``DATABASE_URL`` of the scratch database through this PgBouncer."""
        return self.database.url(host="127.0.0.1", port=self.port)

    def start(self) -> PgBouncer:
        """Write the site file, start PgBouncer, wait until a query passes through it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_site_file()
        args = [self.program]
        if os.geteuid() == 0:
            args += ["-u", UNPRIVILEGED_USER]
        args.append(str(PGBOUNCER_INI))
        self.spawn(args, cwd=self.workdir)
        self.wait_ready(self._query, (psycopg.OperationalError,))
        return self

    def query(self) -> None:
        """One `SELECT 1` through PgBouncer (psycopg.OperationalError when it fails)."""
        self._query()

    def _query(self) -> None:
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.database.user,
            dbname=self.database.dbname,
            connect_timeout=2,
        ) as conn:
            conn.execute("SELECT 1")

    def _write_site_file(self) -> None:
        db = self.database
        target = f"host={db.host} port={db.port} dbname={db.dbname} user={db.user}"
        if db.password:
            target += f" password={db.password}"
        lines = [
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {USERLIST}",
            *(f"{key} = {value}" for key, value in self.site.items()),
            "[databases]",
            f"{db.dbname} = {target}",
        ]
        (self.workdir / SITE_FILE).write_text("\n".join(lines) + "\n")
        # trust still wants the user listed; no password is stored
        (self.workdir / USERLIST).write_text(f'"{db.user}" ""\n')
