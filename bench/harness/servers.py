"""Servers under test, started as production starts them, bound to 127.0.0.1 only.

Each server runs in its own session (process group), so stopping it reaches the whole
tree it spawned and nothing else. Readiness is "``GET /ping`` answers 200 and the tree
holds the master plus its workers"; output goes to a log file, so a per-request log line
is paid for as in production. The commands:

- ``gunicorn -c gunicorn.conf.py <app>`` with bind, workers and gthread threads on the
  command line (which override the file), the project's settings otherwise;
- granian (WSGI): ``python -m cashman.serve`` for Cashman once that entry exists, else
  granian's own CLI (``CASHMAN_GRANIAN`` below is the one switch), and granian's CLI for
  the bare Flask app, with the same workers and blocking threads;
- ``node bench/express/server.js``: a primary and its cluster workers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import proc

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
EXPRESS_DIR = BENCH / "express"
BARE_APP_DIR = BENCH / "apps"
_INHERIT_NOT = {"PORT", "BIND", "WEB_CONCURRENCY", "WEB_THREADS", "GUNICORN_BIND"}
_INHERIT_NOT |= {"GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_CMD_ARGS"}


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _venv_tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else shutil.which(name) or name


def has_cashman_serve() -> bool:
    """True when the project ships the granian entry ``python -m cashman.serve`` (SPEC §6).

    Looked up as a file, not imported: the bench process must not import the app.
    """
    package = ROOT / "cashman"
    return (package / "serve.py").is_file() or (package / "serve" / "__main__.py").is_file()


def gunicorn_command(target: str, port: int, workers: int, threads: int) -> list[str]:
    """The project's gunicorn, config file included, for any WSGI ``module:app``.

    The worker class is the config file's (the head-reading threaded worker), so the
    bench measures what the project ships; without the file, gunicorn's gthread.
    """
    cmd = [_venv_tool("gunicorn")]
    if (ROOT / "gunicorn.conf.py").exists():
        cmd += ["-c", str(ROOT / "gunicorn.conf.py")]
    else:
        cmd += ["--worker-class", "gthread"]
    return [
        *cmd,
        target,
        *("--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads)),
    ]


def granian_command(target: str, port: int, workers: int, threads: int) -> list[str]:
    """granian's CLI for a WSGI ``module:app``: ``workers`` processes x ``threads``."""
    return [
        _venv_tool("granian"),
        *("--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", str(workers), "--blocking-threads", str(threads)),
        target,
    ]


def cashman_granian_command(port: int, workers: int, threads: int) -> list[str]:
    """Cashman on granian: the production entry when it exists, else granian's CLI.

    The one place that switch lives (SPEC §6: ``--bind``, ``--workers``, ``--threads``).
    """
    if has_cashman_serve():
        return [
            sys.executable,
            *("-m", "cashman.serve", "--bind", f"127.0.0.1:{port}"),
            *("--workers", str(workers), "--threads", str(threads)),
        ]
    return granian_command("server:app", port, workers, threads)


def express_command(port: int, workers: int) -> list[str]:
    """``node server.js`` with its port and cluster size as arguments."""
    node = shutil.which("node") or "node"
    return [node, str(EXPRESS_DIR / "server.js"), str(port), str(workers)]


@dataclass
class Server:
    """One server under test: a command, its environment, a log file, a loopback port."""

    command: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    port: int
    workers: int = 2
    cwd: Path = ROOT
    name: str = "server"
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "server not started"
        return self.proc.pid

    def start(self, timeout_s: float = 90.0) -> Server:
        """Start and wait until ``/ping`` answers 200 with all workers up."""
        # the command line sets bind, workers and threads: nothing inherited may change them
        env = {k: v for k, v in os.environ.items() if k not in _INHERIT_NOT}
        env = {k: v for k, v in env.items() if not k.startswith("GRANIAN_")}
        env.update(self.env)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                list(self.command),
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"{self.name} exited ({code}): {self.log_tail()}")
            if len(proc.tree_of(self.pid)) > self.workers and self._pings():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer /ping in {timeout_s}s: {self.log_tail()}")

    def _pings(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return s.recv(64).split(b"\r\n", 1)[0].endswith(b" 200 OK")
        except OSError:
            return False

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def workers_pids(self) -> list[int]:
        """Every process of the tree but the one we started."""
        return proc.tree_of(self.pid)[1:]

    def cpu(self) -> float:
        """user + sys seconds of the whole server tree so far."""
        return proc.cpu_seconds(self.pid)

    def rss_mib(self) -> float:
        """Resident memory of the whole server tree, MiB."""
        return proc.tree_rss_mib(self.pid)

    def stop(self) -> None:
        """SIGTERM to the server's own process group, SIGKILL after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
            break
        # a worker the leader left behind is still ours: no orphan outlives the bench
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Gunicorn(Server):
    """``gunicorn -c gunicorn.conf.py server:app`` on a free loopback port (2 x 4 by default)."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        workers: int = 2,
        threads: int = 4,
        target: str = "server:app",
    ) -> None:
        port = free_port()
        super().__init__(
            command=gunicorn_command(target, port, workers, threads),
            env=env,
            log_path=log_path,
            port=port,
            workers=workers,
            name="gunicorn",
        )
        self.threads = threads
