"""A deployment program (HAProxy, PgBouncer) run from its committed configuration for a
test: started in its own process group with its output in one log file, waited for until
it answers, stopped (or killed) with its whole group."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

from tests.support.processes import STOP_DEADLINE_S, kill_group, stop_process

START_DEADLINE_S = 20.0
POLL_S = 0.1


class ComponentMissing(RuntimeError):
    """A program the topology needs is not installed."""


def require_program(name: str, package: str) -> str:
    """The path of ``name``, or ``ComponentMissing`` naming the Debian package."""
    path = shutil.which(name)
    if path is None:
        raise ComponentMissing(f"{name} is not installed (Debian package: {package})")
    return path


class Daemon:
    """One program and its log; subclasses say how to start it and when it is ready."""

    name = "daemon"

    def __init__(self, log_path: Path) -> None:
        """``log_path``: the file that receives the program's stdout and stderr."""
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self, args: Sequence[str], **popen_args: Any) -> None:
        """Start ``args`` in a new session, appending its output to the log."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                list(args),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **popen_args,
            )

    def wait_ready(
        self,
        probe: Callable[[], object],
        not_yet: tuple[type[BaseException], ...],
        deadline_s: float = START_DEADLINE_S,
    ) -> None:
        """Poll ``probe`` until it returns without one of ``not_yet``; ``RuntimeError`` (the
        program stopped) if it exits first or ``deadline_s`` seconds pass."""
        assert self.proc is not None
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.output()}")
            try:
                probe()
                return
            except not_yet:
                time.sleep(POLL_S)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {deadline_s}s:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM (a fast shutdown for both programs), then SIGKILL past the deadline."""
        if self.proc is not None:
            stop_process(self.proc, STOP_DEADLINE_S)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: every connection the program holds is dropped at once."""
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None

    def output(self) -> str:
        """The last few KiB of the program's log, for failure messages."""
        return self.log()[-4000:]

    def log(self) -> str:
        """The program's whole log ("" before it has written one)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Self:
        """Start the program and wait until it answers."""
        raise NotImplementedError
