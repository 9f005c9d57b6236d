"""Real servers for tests: gunicorn on a free loopback port, and a JWKS over HTTP.

A real server process cannot see the ``responses`` mock, so ``LiveIssuer``
serves an ``AuthKit``'s key set from the kit's loopback ``JWKSServer`` on
127.0.0.1 (plain ``http`` is allowed for loopback issuers). ``LiveServer``
runs ``gunicorn server:app`` with the project's ``gunicorn.conf.py`` through
``tests.support.processes``: a clean environment, its own process group (so a
test can SIGKILL the master and its workers at once), bounded waits.
Traffic only ever goes to loopback.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from auth.testing import AuthKit, JWKSServer
from tests.support.processes import (
    PYTHON,
    ROOT,
    child_pids,
    clean_env,
    free_port,
    kill_group,
    stop_process,
    wait_until_ready,
)

READY_DEADLINE_S = 60.0


class LiveIssuer:
    """An ``AuthKit`` whose issuer is ``http://127.0.0.1:<port>/``, JWKS served for real."""

    def __init__(self) -> None:
        self._server = JWKSServer({"keys": []})
        self.port = self._server.server_address[1]
        self.kit = AuthKit(issuer=self._server.issuer)
        self._server.jwks = self.kit.jwks  # read on every fetch: rotations show

    def env(self) -> dict[str, str]:
        """Settings that make a server trust this issuer."""
        return self.kit.env()

    def close(self) -> None:
        self._server.close()


@contextmanager
def live_issuer() -> Iterator[LiveIssuer]:
    """A ``LiveIssuer`` for the duration of the block."""
    issuer = LiveIssuer()
    try:
        yield issuer
    finally:
        issuer.close()


class LiveServer:
    """``gunicorn server:app`` on 127.0.0.1:<free port>, output captured in one file.

    The process starts at once; ``with LiveServer(...) as server`` also waits
    until ``/ping`` answers and stops it at the end of the block, whatever happens.
    """

    def __init__(self, env: Mapping[str, str], log_path: Path, *, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        settings = {"GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_WORKERS": str(workers)}
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "gunicorn", "--no-control-socket", "server:app"],
                cwd=ROOT,
                env=clean_env(**settings, **env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self, deadline_s: float = READY_DEADLINE_S) -> None:
        """Poll ``/ping`` until it answers 200; ``NotReady`` with the server's output otherwise."""
        wait_until_ready(self.proc, f"{self.url}/ping", self.output, deadline_s)

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: no shutdown code runs."""
        kill_group(self.proc)

    def stop(self) -> None:
        """Graceful stop (SIGTERM to the master), escalating to SIGKILL past the deadline."""
        stop_process(self.proc)

    def worker_pids(self) -> list[int]:
        """The master's live workers."""
        return child_pids(self.proc.pid)

    def output(self) -> str:
        """The last few KiB of the server's output, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self) -> LiveServer:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
