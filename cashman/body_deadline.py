"""Read a request body under one deadline for the whole of it, on either production server.

Neither server bounds how long a body may take (SPEC §6: slow or stalled
clients cannot tie up the workers): granian has no body read timeout at all
(upstream declined one, emmett-framework/granian#728) and its ``wsgi.input``
blocks in native code that Python cannot interrupt; gunicorn's ``gthread``
worker reads with blocking sockets, where a per-call timeout does not bound
a client that trickles a byte per call. So each request gets a reader that
enforces one deadline for its whole body:

- gunicorn (the environ has ``gunicorn.socket``): reads stay in the request
  thread; at the deadline the watchdog shuts the socket's read side, which
  ends a read in progress at once (the answer can still be written);
- any other server (granian): each read runs on a per-process pool of
  reader threads and the request thread waits for it at most until the
  deadline, then answers. A read still blocked then stays parked on its
  reader thread until the client sends or goes away: granian offers no way
  to cancel it, and a request it serves must not end while a read of its
  body is in flight (granian 2.8 then stops the whole worker until that read
  returns). So ``parked()`` gives the caller what to wait for before letting
  the request end; the answer itself is sent at the deadline.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress
from typing import Any, Protocol

from gunicorn.http.errors import ParseException

from cashman.watchdog import watchdog

# a body of at most 64 KiB takes well under a second on any usable link
BODY_READ_TIMEOUT_S = 10.0
# requests in the app plus parked reads (stalled clients); beyond, reads wait and time out
READER_THREADS = 64


class BodyTimeout(Exception):
    """The deadline passed before the body was read to its end."""


class BodyBroken(Exception):
    """The body cannot be read to its end: broken framing, or the client went away."""


class DeadlineReader(Protocol):
    """Reads ``wsgi.input`` until a deadline; ``close()`` when done with it."""

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes, fewer only at the end of the body."""
        ...

    def close(self) -> None:
        """Release what the reader holds (the armed deadline)."""
        ...

    def parked(self) -> Callable[[], None] | None:
        """A wait for a read left in flight at the deadline, which the request must outlive."""
        ...


def reader_for(environ: dict[str, Any], deadline: float) -> DeadlineReader:
    """The reader suited to the server that built ``environ`` (``time.monotonic()`` deadline)."""
    sock = environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        return SocketDeadlineReader(environ["wsgi.input"], sock, deadline)
    return ThreadDeadlineReader(environ["wsgi.input"], deadline)


class SocketDeadlineReader:
    """gunicorn: blocking reads, ended at the deadline by shutting the socket's read side."""

    def __init__(self, stream: Any, sock: socket.socket, deadline: float) -> None:
        """``stream``: the WSGI input; ``sock``: the client socket it reads from;
        ``deadline``: ``time.monotonic()`` seconds when its read side is shut."""
        self._stream = stream
        self._sock = sock
        self._expired = False
        self._armed = watchdog.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._expired = True
        with suppress(OSError):
            self._sock.shutdown(socket.SHUT_RD)

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``BodyTimeout`` past the deadline, ``BodyBroken`` if it fails."""
        if self._expired:
            raise BodyTimeout()
        try:
            data: bytes = self._stream.read(size)
        except (BlockingIOError, TimeoutError):
            # the socket's own stall timeout (gunicorn.conf.py): no byte for a while
            raise BodyTimeout() from None
        except (ParseException, OSError) as exc:
            # after the shutdown a read fails or ends early: that is the deadline, not the client
            raise (BodyTimeout() if self._expired else BodyBroken(type(exc).__name__)) from None
        if self._expired:
            raise BodyTimeout()
        return data

    def close(self) -> None:
        """Disarm: once this returns, the socket is left alone (the server reuses it)."""
        self._armed.cancel()

    def parked(self) -> Callable[[], None] | None:
        """None: reads stay in the request thread, and the deadline ends them."""
        return None


_pool: ThreadPoolExecutor | None = None
_pool_pid = 0


def _reader_pool() -> ThreadPoolExecutor:
    # one pool per process, made on first use: threads do not survive a fork into a worker
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="cashman-body")
        _pool_pid = os.getpid()
    return _pool


class ThreadDeadlineReader:
    """Any server: each read on a reader thread, awaited at most until the deadline."""

    def __init__(self, stream: Any, deadline: float) -> None:
        """``stream``: the WSGI input; ``deadline``: ``time.monotonic()`` seconds after which
        a read raises ``BodyTimeout``."""
        self._stream = stream
        self._deadline = deadline
        self._in_flight: Future[bytes] | None = None

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``BodyTimeout`` past the deadline, ``BodyBroken`` if it fails."""
        if self._in_flight is not None:
            # a read is still blocked on the stream: no second one may start
            raise BodyTimeout()
        future = _reader_pool().submit(self._stream.read, size)
        try:
            data: bytes = future.result(timeout=max(0.0, self._deadline - time.monotonic()))
        except FutureTimeout:
            # not started yet (every reader busy): it never will; else it stays in flight
            if not future.cancel():
                self._in_flight = future
            raise BodyTimeout() from None
        except (OSError, ValueError) as exc:
            raise BodyBroken(type(exc).__name__) from None
        return data

    def close(self) -> None:
        """Nothing to release here: see ``parked()``."""

    def parked(self) -> Callable[[], None] | None:
        """Wait for the read still in flight (it ends when the client sends or leaves)."""
        future = self._in_flight
        if future is None:
            return None
        return lambda: wait([future])
