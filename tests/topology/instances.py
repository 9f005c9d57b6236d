"""API instances on the production entry, each on a fixed loopback port across restarts.

``production_entry`` is the one place that says how an instance starts: the
granian entry ``python -m cashman.serve`` (SPEC section 6) when the module is
there, else ``gunicorn -c gunicorn.conf.py server:app``. Each start of an
instance is a new generation with its own log file and its own JWKS path
(``/<name>/<generation>/.well-known/jwks.json``), so the issuer can count the
key-set fetches of every process separately. An instance runs in a process
group of its own: SIGKILL reaches its workers too.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.processes import (
    GUNICORN,
    PYTHON,
    ROOT,
    child_pids,
    free_port,
    hermetic_env,
    kill_group,
)

SERVE_MODULE = ROOT / "cashman" / "serve.py"
READY_DEADLINE_S = 60.0
# longer than the servers' graceful timeout (30 s): a stop that takes longer is a failure
STOP_DEADLINE_S = 40.0
POLL_S = 0.1


Entry = Callable[[str, int, int], tuple[list[str], dict[str, str]]]


def production_entry(bind: str, workers: int, threads: int) -> tuple[list[str], dict[str, str]]:
    """The command and settings that start one instance listening on ``bind`` (host:port)."""
    if SERVE_MODULE.exists():
        command = [PYTHON, "-m", "cashman.serve", "--bind", bind]
        command += ["--workers", str(workers), "--threads", str(threads)]
        return command, {}
    return gunicorn_entry(bind, workers, threads)


def gunicorn_entry(bind: str, workers: int, threads: int) -> tuple[list[str], dict[str, str]]:
    """``gunicorn -c gunicorn.conf.py server:app``, the other supported entry (SPEC section 6)."""
    settings = {
        "GUNICORN_BIND": bind,
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(threads),
        "GUNICORN_LOGLEVEL": "warning",
    }
    return [GUNICORN, "-c", "gunicorn.conf.py", "server:app"], settings


@dataclass
class Generation:
    """One start of an instance: its process, log, JWKS path and lifetime."""

    number: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    jwks_path: str
    started: float
    ended: float | None = None

    def lifetime_s(self) -> float:
        return (self.ended or time.monotonic()) - self.started


class Instance:
    """One API instance (``workers`` processes) at ``127.0.0.1:<port>``."""

    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        workdir: Path,
        jwks_base: str,
        *,
        workers: int = 2,
        threads: int = 4,
        entry: Entry = production_entry,
    ) -> None:
        """``env``: the settings of every generation; ``jwks_base``: the issuer URL;
        ``entry``: how it starts (the production entry unless a test names another)."""
        self.name = name
        self.env = dict(env)
        self.workdir = workdir
        self.jwks_base = jwks_base.rstrip("/")
        self.workers = workers
        self.threads = threads
        self.entry = entry
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self.generations: list[Generation] = []

    @property
    def current(self) -> Generation:
        return self.generations[-1]

    def start(self) -> Generation:
        """Start a new generation (the previous one must have exited)."""
        number = len(self.generations) + 1
        jwks_path = f"/{self.name}/{number}/.well-known/jwks.json"
        command, entry_settings = self.entry(self.address, self.workers, self.threads)
        settings = {
            **self.env,
            **entry_settings,
            "AUTH0_JWKS_URL": f"{self.jwks_base}{jwks_path}",
        }
        log_path = self.workdir / f"{self.name}-{number}.log"
        self.workdir.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=hermetic_env(self.workdir, **settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        generation = Generation(number, proc, log_path, jwks_path, time.monotonic())
        self.generations.append(generation)
        return generation

    def wait_ready(self, deadline_s: float = READY_DEADLINE_S) -> None:
        """Poll the instance's own ``/readyz`` until 200; ``RuntimeError`` with its log if not."""
        proc = self.current.proc
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {proc.returncode}:\n{self.output()}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(POLL_S)
        raise RuntimeError(f"{self.name} not ready after {deadline_s}s:\n{self.output()}")

    def terminate(self) -> int:
        """SIGTERM, as an orchestrator stops it; its exit status once it has exited."""
        generation = self.current
        generation.proc.send_signal(signal.SIGTERM)
        try:
            status = generation.proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            kill_group(generation.proc)
            message = f"{self.name} still running {STOP_DEADLINE_S}s after SIGTERM"
            raise RuntimeError(message) from None
        finally:
            generation.ended = time.monotonic()
        return status

    def kill(self) -> None:
        """SIGKILL of the whole process group: no shutdown code runs anywhere."""
        kill_group(self.current.proc)
        self.current.ended = time.monotonic()

    def stop(self) -> None:
        """End of the run: SIGTERM if still running, SIGKILL of any leftover."""
        if not self.generations:
            return
        generation = self.current
        if generation.proc.poll() is None:
            generation.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                generation.proc.wait(timeout=STOP_DEADLINE_S)
        kill_group(generation.proc)
        generation.ended = generation.ended or time.monotonic()

    def worker_pids(self) -> list[int]:
        """The live worker processes of the current generation."""
        return child_pids(self.current.proc.pid)

    def output(self, generation: Generation | None = None) -> str:
        """The last few KiB of a generation's log (default: the current one)."""
        path = (generation or self.current).log_path
        try:
            return path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""
