"""Where a production server's workers say they exist: one file per worker pid (SPEC §6).

The parent of a production server must notice every worker that ends (to log
it, and to release its multiprocess metrics files). Watching the parent's list
of children misses a worker that is started, killed and replaced between two
looks at that list: granian forks, reaps and respawns a SIGKILLed worker
within milliseconds. So each worker leaves a mark the parent reads at leisure:
right after ``fork()`` (``os.register_at_fork``, before the worker runs any
server code) it creates ``<directory>/workers/<pid>``, and the file stays
until the parent has reported that pid's end. A worker started another way
(a ``spawn`` start method) registers when it builds the app.

The same per-server directory holds the Prometheus multiprocess files
(``metrics/``) unless ``PROMETHEUS_MULTIPROC_DIR`` names another one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

# the parent passes the directory to workers that do not inherit its memory
DIRECTORY_VARIABLE = "CASHMAN_SERVER_DIR"


class WorkerRegistry:
    """The registered worker pids of the server whose parent is ``parent_pid``."""

    def __init__(self, directory: Path, parent_pid: int) -> None:
        """``directory``: the server's own (``workers/`` is created in it)."""
        self.directory = directory
        self.parent_pid = parent_pid
        self.workers_dir = directory / "workers"
        self.workers_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def create(cls) -> WorkerRegistry:
        """In the parent: a fresh private directory, named in ``CASHMAN_SERVER_DIR`` for workers."""
        registry = cls(Path(tempfile.mkdtemp(prefix="cashman-server-")), os.getpid())
        os.environ[DIRECTORY_VARIABLE] = str(registry.directory)
        return registry

    def install_fork_hook(self) -> None:
        """In the parent: every child forked from now on registers itself at once."""
        os.register_at_fork(after_in_child=self.register)

    def register(self) -> None:
        """In a worker: leave this process's mark (only a direct child of the parent does)."""
        if os.getppid() != self.parent_pid:
            return  # a process forked by a worker is not one of the server's workers
        with contextlib.suppress(OSError):  # never stop a worker for want of a mark
            (self.workers_dir / str(os.getpid())).touch()

    def registered(self) -> set[int]:
        """The pids registered and not yet forgotten."""
        try:
            names = os.listdir(self.workers_dir)
        except OSError:
            return set()
        return {int(name) for name in names if name.isdigit()}

    def forget(self, pid: int) -> None:
        """In the parent, once ``pid``'s end has been reported."""
        with contextlib.suppress(OSError):
            (self.workers_dir / str(pid)).unlink()

    def remove(self) -> None:
        """In the parent, at exit: the whole directory (only by the process that made it)."""
        if os.getpid() == self.parent_pid:
            shutil.rmtree(self.directory, ignore_errors=True)


def is_child(pid: int, parent_pid: int) -> bool:
    """Whether ``pid`` is a child of ``parent_pid`` not yet reaped, read from ``/proc``.

    A zombie still counts: the server reaps its workers, and only then is one gone
    (which also keeps a pid from being reported twice). A pid reused by some other
    process has another parent.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # reaped
    # the fields after the command name, which may itself hold spaces and parentheses
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[1]) == parent_pid
