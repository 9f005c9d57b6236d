"""Call a function when a deadline passes, unless cancelled first: one thread per process.

gunicorn reads a request body with blocking socket calls that no per-call
timeout can bound in total (a client may trickle one byte per call), so
the body reader arms a deadline here that shuts the socket's read side,
which ends any read in progress (SPEC §6: slow clients cannot tie up the
workers). A ``threading.Timer`` per request would start a thread per POST;
one sleeping thread with a heap of deadlines costs a push and a notify.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field


@dataclass(order=True)
class _Entry:
    deadline: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Armed:
    """A deadline in the watchdog; :meth:`cancel` is final once it returns."""

    def __init__(self, watchdog: Watchdog, entry: _Entry) -> None:
        """Made by ``Watchdog.call_at``, never by hand: the entry it may cancel."""
        self._watchdog = watchdog
        self._entry = entry

    def cancel(self) -> bool:
        """Disarm; True if the callback had not run (and now never will)."""
        return self._watchdog._cancel(self._entry)


class Watchdog:
    """Runs each armed callback at its deadline (``time.monotonic()`` seconds).

    Callbacks run on the watchdog thread while it holds the lock that
    :meth:`Armed.cancel` takes, so after ``cancel()`` returns the callback is
    neither running nor going to run: it may touch a socket that the caller
    is about to hand back to the server. Callbacks must be quick and must not
    raise (an exception is swallowed so the thread survives).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._owner_pid = 0

    def call_at(self, deadline: float, callback: Callable[[], None]) -> Armed:
        """Arm ``callback`` for ``deadline`` (``time.monotonic()`` clock)."""
        entry = _Entry(deadline, next(self._seq), callback)
        with self._lock:
            self._ensure_thread()
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._wakeup.notify()
        return Armed(self, entry)

    def _cancel(self, entry: _Entry) -> bool:
        with self._lock:
            was_pending = not entry.cancelled
            entry.cancelled = True
            return was_pending

    def _ensure_thread(self) -> None:
        # started lazily and per process: a thread does not survive a fork into a worker
        if self._owner_pid != os.getpid():
            self._owner_pid = os.getpid()
            self._heap.clear()
            threading.Thread(target=self._run, name="cashman-watchdog", daemon=True).start()

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wakeup.wait()
                    continue
                delay = self._heap[0].deadline - time.monotonic()
                if delay > 0:
                    self._wakeup.wait(delay)
                    continue
                entry = heapq.heappop(self._heap)
                entry.cancelled = True
                # the thread must outlive any callback
                with suppress(Exception):
                    entry.callback()


watchdog = Watchdog()
