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
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import psycopg

from tests.support.processes import ROOT, STOP_DEADLINE_S, free_port, kill_group, stop_process
from tests.topology.database import Postgres

PGBOUNCER_INI = ROOT / "deploy" / "pgbouncer.ini"
SITE_FILE = "pgbouncer.site.ini"
USERLIST = "userlist.txt"
START_DEADLINE_S = 20.0
UNPRIVILEGED_USER = "nobody"


class ComponentMissing(RuntimeError):
    """A program the topology needs is not installed."""


def require_program(name: str, package: str) -> str:
    """The path of ``name``, or ``ComponentMissing`` naming the Debian package."""
    path = shutil.which(name)
    if path is None:
        raise ComponentMissing(f"{name} is not installed (Debian package: {package})")
    return path


class PgBouncer:
    """``pgbouncer deploy/pgbouncer.ini`` in front of ``database``, listening on loopback."""

    def __init__(
        self, workdir: Path, database: Postgres, site: Mapping[str, str] | None = None
    ) -> None:
        """``site``: further keys of the ``[pgbouncer]`` section (a focused test's own)."""
        self.program = require_program("pgbouncer", "pgbouncer")
        self.workdir = workdir
        self.database = database
        self.port = free_port()
        self.log_path = workdir / "pgbouncer.log"
        self.site = dict(site or {})
        self.proc: subprocess.Popen[bytes] | None = None

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
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_ready()
        return self

    def stop(self) -> None:
        """SIGTERM (PgBouncer's fast shutdown), then SIGKILL past the deadline."""
        if self.proc is not None:
            stop_process(self.proc, STOP_DEADLINE_S)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: every client and server connection is dropped at once."""
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None

    def output(self) -> str:
        """The last few KiB of PgBouncer's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

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

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited {self.proc.returncode}:\n{self.output()}")
            try:
                with psycopg.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user=self.database.user,
                    dbname=self.database.dbname,
                    connect_timeout=2,
                ) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"pgbouncer not ready after {START_DEADLINE_S}s:\n{self.output()}")

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
