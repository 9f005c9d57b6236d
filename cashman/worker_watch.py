"""Tell the parent when one of its worker processes has ended: granian has no hook for it.

gunicorn calls ``child_exit`` for every worker that ends; granian replaces a
dead worker but offers no callback. This watch looks four times a second,
from a daemon thread, at the workers it knows of: those registered in the
server's ``WorkerRegistry`` (each worker registers right after ``fork()``, so
one killed and replaced between two looks is still known) and the parent's
children (``/proc/self/task/*/children``, Linux). Each one that is no longer
a child of the parent (it has been reaped) is reported once. It never waits
on a child itself: the server reaps its own workers, and reaping one here
would race with it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from cashman.worker_registry import WorkerRegistry, is_child

# short enough to report an end promptly; reading a few /proc files is cheap
POLL_INTERVAL_S = 0.25


def child_pids() -> set[int]:
    """The live (or not yet reaped) children of this process; empty without ``/proc``."""
    pids: set[int] = set()
    try:
        tasks = list(Path("/proc/self/task").iterdir())
    except OSError:
        return pids
    for task in tasks:
        try:
            pids.update(int(pid) for pid in (task / "children").read_text().split())
        except OSError:
            continue  # the thread ended while we looked
    return pids


class WorkerWatch:
    """Calls ``on_exit(pid)`` once for each worker that ends after ``start()``.

    ``registry``: where workers register (None: the children list alone, which
    misses a worker that lives less than ``interval_s``).
    """

    def __init__(
        self,
        on_exit: Callable[[int], None],
        interval_s: float = POLL_INTERVAL_S,
        registry: WorkerRegistry | None = None,
    ) -> None:
        self._on_exit = on_exit
        self._interval_s = interval_s
        self._registry = registry
        self._stopped = threading.Event()
        # stop() sweeps too: one sweep at a time, so no exit is reported twice
        self._lock = threading.Lock()
        self._known: set[int] = set()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching (call it before the workers start: they are all reported then)."""
        self._known = child_pids()
        self._thread = threading.Thread(target=self._run, name="cashman-workers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching, after reporting the workers that ended meanwhile (all, at shutdown)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval_s * 2)
        self._sweep()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            self._sweep()

    def _sweep(self) -> None:
        with self._lock:
            parent = os.getpid()
            registered = self._registry.registered() if self._registry else set()
            candidates = self._known | child_pids() | registered
            alive = {pid for pid in candidates if is_child(pid, parent)}
            for pid in sorted(candidates - alive):
                self._on_exit(pid)
                if self._registry is not None:
                    self._registry.forget(pid)
            self._known = alive
