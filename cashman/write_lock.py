"""One SQLite writer at a time, queued by the operating system (SPEC §5).

SQLite lets one transaction write at a time. A second ``BEGIN IMMEDIATE`` does not
queue: SQLite's busy handler sleeps it and retries, sleeping longer each time (up
to 100 ms a nap), so under steady writes a transaction can lose many rounds in a
row while newer ones win: that backoff made the p99 of ``POST /incomes`` hundreds
of milliseconds. Here writers wait instead on a lock the kernel hands over as soon
as it is released:

- a ``threading.Lock`` queues the threads of one process (a ``flock`` is held by an
  open file, which the threads of a process share, so it cannot tell them apart);
- ``fcntl.flock`` on a file beside the database queues the processes: the workers of
  gunicorn or granian and other instances on the same machine. The kernel releases
  it when its holder exits, even on SIGKILL.

The holder keeps it for one short transaction; the ``BEGIN IMMEDIATE`` inside still
takes SQLite's own lock, so a writer that does not use this lock (the ``sqlite3``
shell) stays safe and is waited for under the busy timeout. The DPoP replay store's
own connections take it too (``cashman.dpop_replay``).
Readers never take it: in WAL mode they do not wait for writers.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType

from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# NoLock's turn: nothing to take or release, one object for every write
_NOTHING = nullcontext()


class WriterLock:
    """Serialises the write transactions on one SQLite file across threads and processes.

    ``path`` is the lock file (created if missing; its content is never read or
    written). ``timeout_s`` bounds the wait for the other threads of this process;
    past it, ``hold`` raises SQLAlchemy's ``TimeoutError``, which the app answers
    with a 503 as it does an exhausted pool. The file is opened on the first write,
    and a forked child forgets its parent's: a ``flock`` belongs to an open file, which
    ``fork`` shares, so a lock built before a server forks its workers would not
    separate them otherwise.
    """

    def __init__(self, path: str, timeout_s: float) -> None:
        """See the class docstring."""
        self.path = path
        self.timeout_s = timeout_s
        self._fd = -1
        self._held_fd = -1  # the file locked by the holder (one per process at a time)
        self._threads = threading.Lock()
        # runs in the child right after fork, before any other thread exists there
        reset = weakref.WeakMethod(self._forget_parent)
        os.register_at_fork(after_in_child=lambda: (method := reset()) and method())

    def hold(self) -> WriterLock:
        """``with lock.hold():`` holds the lock for the body: first this process's, then
        the file's; released in reverse order. Raises SQLAlchemy's ``TimeoutError`` past
        ``timeout_s``. The lock is its own context manager: no generator is made per
        write, as ``contextlib.contextmanager`` would (1 us of each SQLite write)."""
        return self

    def __enter__(self) -> None:
        """Take this process's lock, then the file's."""
        if not self._threads.acquire(timeout=self.timeout_s):
            raise PoolTimeoutError(f"no turn to write within {self.timeout_s:g} s")
        try:
            fd = self._file()
            # a blocking wait: its holder keeps it for one transaction, itself bounded
            # by SQLite's busy timeout, and the kernel releases it if the holder dies
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        self._held_fd = fd

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Release the file's lock, then this process's."""
        try:
            fcntl.flock(self._held_fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        """Close this process's lock file (the next ``hold`` opens it again)."""
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1

    def _forget_parent(self) -> None:
        # a child starts with a copy of the parent's thread lock, possibly held by a
        # thread that does not exist in the child, and shares the parent's open file
        self._threads = threading.Lock()
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1

    def _file(self) -> int:
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd


class NoLock:
    """Stands in for ``WriterLock`` where the database serialises writers itself."""

    def hold(self) -> AbstractContextManager[None]:
        """Hold nothing: one shared ``contextlib.nullcontext`` (reusable, no object per
        write)."""
        return _NOTHING

    def close(self) -> None:
        """Nothing to close."""
