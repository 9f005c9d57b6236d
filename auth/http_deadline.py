"""A deadline for an HTTP response's head, which per-read timeouts cannot give.

``requests`` bounds the connection and each read, not their sum: a server that
sends its status line and headers a byte at a time, each within the read
timeout, holds the caller for as long as it likes, and SPEC §3 gives the whole
JWKS fetch 10 s. Neither ``requests`` nor urllib3 has a total timeout for the
head (urllib3's ``Timeout(total=...)`` only shortens the per-read timeout once,
after the connection), so ``DeadlineAdapter``'s connections take one: while the
head is awaited inside ``deadline(until)``, a timer shuts the socket down at
``until``, which ends the read in progress with an error. The body is read by
``auth.jwks_fetch`` under the same deadline, between reads.

One timer thread per request, and only within ``deadline``: key-set fetches are
rare (minutes apart, throttled), so a thread each costs nothing that matters.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection

_current = threading.local()


@contextmanager
def deadline(until: float) -> Iterator[None]:
    """Within the block, this thread's ``DeadlineAdapter`` requests must have their
    response head by ``until`` (``time.monotonic()`` seconds)."""
    previous = getattr(_current, "until", None)
    _current.until = until
    try:
        yield
    finally:
        _current.until = previous


class _HeadDeadline:
    """For urllib3 connections: the head read under the thread's ``deadline``."""

    sock: socket.socket | None

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        until = getattr(_current, "until", None)
        if until is None:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        timer = threading.Timer(max(until - time.monotonic(), 0.0), self._cut)
        timer.daemon = True
        timer.start()
        try:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        finally:
            timer.cancel()

    def _cut(self) -> None:
        sock: Any = self.sock
        # TLS inside TLS (an https:// proxy): urllib3's SSLTransport has no shutdown of
        # its own; the socket it wraps does (and ends the read on the layers above it)
        while sock is not None and not hasattr(sock, "shutdown"):
            sock = getattr(sock, "socket", None)
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _HTTPConnection(_HeadDeadline, HTTPConnection):
    pass


class _HTTPSConnection(_HeadDeadline, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """``requests`` transport adapter whose connections, direct or through a proxy
    (``http://`` or ``https://``), honour ``deadline``; mount it on a session for
    ``http://`` and ``https://``."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """As ``HTTPAdapter``'s, with this module's connection pools."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """As ``HTTPAdapter``'s, with this module's connection pools."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager
