"""Tell the parent when one of its worker processes has ended: granian has no hook for it.

gunicorn calls ``child_exit`` for every worker that ends; granian replaces a
dead worker but offers no callback. This watch polls the parent's children
(``/proc/self/task/*/children``, Linux) four times a second from a daemon thread
and reports each one that is gone. It never waits on a child itself: the
server reaps its own workers, and reaping one here would race with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

# short enough to see a worker that lived a moment (a crash at start-up is also in
# granian's own log); reading a few /proc files is cheap
POLL_INTERVAL_S = 0.25


def child_pids() -> set[int]:
    """The live (or not yet reaped) children of this process; empty without ``/proc``."""
    pids: set[int] = set()
    for children in Path("/proc/self/task").glob("*/children"):
        try:
            pids.update(int(pid) for pid in children.read_text().split())
        except OSError:
            continue  # the thread ended while we looked
    return pids


class WorkerWatch:
    """Calls ``on_exit(pid)`` once for each child process that ends after ``start()``."""

    def __init__(self, on_exit: Callable[[int], None], interval_s: float = POLL_INTERVAL_S):
        self._on_exit = on_exit
        self._interval_s = interval_s
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
        """Stop watching, after reporting the children that ended meanwhile (all, at shutdown)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval_s * 2)
        self._sweep()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            self._sweep()

    def _sweep(self) -> None:
        with self._lock:
            current = child_pids()
            for pid in sorted(self._known - current):
                self._on_exit(pid)
            self._known = current
