"""A TCP proxy on loopback that can cut the database away, or stall it, and bring it back.

Put between the app and PostgreSQL, ``cut()`` does what a failing database
host or network does to a pooled connection: every open connection is reset
and new ones are refused (the listening port is closed). ``restore()`` binds
the same port again, so the app's unchanged ``DATABASE_URL`` works again.
``stall()`` does what a hung server or a black-holed path behind a live kernel
does: connections stay open and are accepted, bytes are acknowledged, and nothing
is forwarded either way until ``resume()``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, like a dead peer


class CuttableProxy:
    """Forward ``127.0.0.1:<port>`` to ``upstream``; ``cut()`` / ``restore()`` it."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = 0
        self.accepted = 0
        self.cuts = 0
        self._listener: socket.socket | None = None
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()

    def start(self) -> CuttableProxy:
        """Listen (on the same port as before, after a cut) and accept in a thread."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        self.cuts += 1
        if self._listener is not None:
            _close(self._listener)
            self._listener = None
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for client, server in pairs:
            _reset(client)
            _reset(server)

    def restore(self) -> None:
        """Accept connections again on the same port."""
        if self._listener is None:
            self.start()

    def stall(self) -> None:
        """Keep every connection open but forward nothing, either way, until ``resume()``."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again what was held and what comes next."""
        self._flowing.set()

    def stop(self) -> None:
        self._flowing.set()
        self.cut()

    def __enter__(self) -> CuttableProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed by cut()
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    _reset(client)
                    _reset(server)
                    return
                self._pairs.add((client, server))
                self.accepted += 1
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                # stalled: held here (bounded by the test that stalls: it resumes or stops)
                self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        _close(src)
        _close(dst)


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
