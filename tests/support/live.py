"""Real servers for tests: a production server on a free loopback port, and a JWKS over HTTP.

A real server process cannot see the ``responses`` mock, so ``LiveIssuer``
serves an ``AuthKit``'s key set from the kit's loopback ``JWKSServer`` on
127.0.0.1 (plain ``http`` is allowed for loopback issuers). ``LiveServer``
runs ``python -m cashman.serve`` (granian) or ``gunicorn server:app`` (with
the project's ``gunicorn.conf.py``) through ``tests.support.processes``: a clean
environment, its own process group (so a test can SIGKILL the parent and its
workers at once), bounded waits. Traffic only ever goes to loopback.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from auth.testing import AuthKit, JWKSServer
from tests.support.processes import (
    child_pids,
    free_port,
    kill_group,
    production,
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

    @property
    def fetches(self) -> int:
        """How many times the key set was fetched (each worker process fetches it itself)."""
        return self._server.fetches

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
    """A production server on 127.0.0.1:<free port>, output captured in one file.

    ``server`` is one of ``SERVERS``: the production entry ``python -m
    cashman.serve`` (granian) by default, or ``gunicorn server:app``; started
    through ``tests.support.processes``. The process starts at once; ``with
    LiveServer(...) as server`` also waits until ``/ping`` answers and stops
    it at the end of the block, whatever happens.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        workers: int = 2,
        server: str = "granian",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.server = server
        self._process = production(
            server,
            log_path.parent,
            self.port,
            workers=workers,
            hermetic=False,
            log_path=log_path,
            **env,
        )
        self.proc = self._process.popen

    def wait_ready(self, deadline_s: float = READY_DEADLINE_S) -> None:
        """Poll ``/ping`` until it answers 200; ``NotReady`` with the server's output otherwise."""
        wait_until_ready(self.proc, f"{self.url}/ping", self.output, deadline_s)

    def kill(self) -> None:
        """SIGKILL the parent and every worker at once: no shutdown code runs."""
        kill_group(self.proc)

    def stop(self) -> None:
        """Graceful stop (SIGTERM to the parent), escalating to SIGKILL past the deadline."""
        stop_process(self.proc)

    def worker_pids(self) -> list[int]:
        """The parent's live workers."""
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
