"""gunicorn's threaded worker, reading request heads without a thread (SPEC §6).

gunicorn's ``gthread`` worker gives a connection a thread as soon as its first
byte arrives; the thread then reads the head with blocking reads, each one
bounded only by the per-read stall timeout. A client trickling its head a byte
every second or so (a "slowloris") keeps that thread for as long as it likes,
and a few dozen such clients hold every thread of every worker.

``HeadReadingWorker`` reads the head on the worker's event loop instead, with
non-blocking reads, and gives a thread only a connection whose head is
complete (or already past gunicorn's own head limits, which its parser then
refuses without reading more). While the head arrives:

- before its first byte, a connection waits like an idle kept-alive one
  (gunicorn's ``keepalive``, at least ``STALL_TIMEOUT_S``; a stopping worker
  keeps it a couple of seconds more at most, as gunicorn does for those);
- then no ``STALL_TIMEOUT_S`` without a byte, and the whole head within
  ``HEAD_READ_TIMEOUT_S`` (granian's header read timeout, the other production
  entry's), or the connection is closed without an answer.

What gunicorn refuses itself (a malformed request line, header or framing) is answered
in the API's JSON error shape (``write_json_error``), not gunicorn's HTML page.

The body is still read on the app's thread (``cashman.body_deadline`` bounds
it); TLS, HTTP/2 with prior knowledge and other protocols keep gunicorn's own
path. This relies on gunicorn 27's ``gthread`` internals (re-check them when
the pin moves):

- ``ThreadWorker.enqueue_req(conn)``, run on the event-loop thread, is where a
  connection is handed to a thread: after ``accept``, when a kept-alive
  connection becomes readable, and when an answer left read-ahead bytes;
- ``self.poller`` (a ``selectors`` selector), ``self.nr_conns``, and
  ``murder_pending()``, called about once a second, also while stopping;
- ``TConn.init()`` builds the HTTP/1 parser without any I/O when neither TLS
  nor HTTP/2 prior knowledge is on, and an initialised ``TConn`` makes
  ``handle()`` skip its wait for a first byte;
- the parser reads what ``unreader.unread()`` gave back before the socket;
- at a stop, ``run()`` calls ``set_accept_enabled(False)`` after its loop with ``alive``
  false (and returns early from it when accepting is off already),
  ``self.worker_connections`` bounds a worker's connections, and a ``BaseSocket``
  wrapper's ``close()`` drops its socket.
"""

from __future__ import annotations

import contextlib
import errno
import re
import selectors
import time
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus

from gunicorn import util
from gunicorn.http.message import DEFAULT_MAX_HEADERFIELD_SIZE, MAX_HEADERS, MAX_REQUEST_LINE
from gunicorn.http.parser import RequestParser
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from cashman.errors import generic_error_body

# granian's header read timeout (``cashman.serve``): the whole head, from its first byte
HEAD_READ_TIMEOUT_S = 30
# no byte from a client for this long, while its head arrives (and, through the
# socket timeouts gunicorn.conf.py sets, while a thread reads its body or writes to it)
STALL_TIMEOUT_S = 5
RECV_BYTES = 8192
SWEEP_EVERY_S = 0.5
# the empty line ending a head (RFC 9112 §2.1), or a bare LF, which gunicorn's
# parser refuses at once (RFC 9112 §2.2): either way the thread need not wait
# accept(2) on Linux: errors of one queued connection (reset while queued, or its network
# gone), after which the next one may still be taken
_NEXT_MAY_DO = frozenset(
    {
        errno.ECONNABORTED,
        errno.EPROTO,
        errno.ENETDOWN,
        errno.ENOPROTOOPT,
        errno.EHOSTDOWN,
        errno.ENONET,
        errno.EHOSTUNREACH,
        errno.EOPNOTSUPP,
        errno.ENETUNREACH,
    }
)
HEAD_READY = re.compile(rb"\r\n\r\n|(?<!\r)\n")


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it refuses itself (a malformed request line, header
    or framing; ``gunicorn.util.write_error``'s arguments), in the API's JSON error shape
    instead of an HTML page quoting what it could not parse (SPEC §4: never HTML). The
    text gunicorn had for the page (``mesg``) is not sent: it may quote a header value;
    nor its ``reason``, which is not always the status's (RFC 9110 §15).
    """
    body = generic_error_body(status_int)
    # gunicorn passes "Bad Request" with its 501s: the phrase is the status's own
    with contextlib.suppress(ValueError):
        reason = HTTPStatus(status_int).phrase
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


# gunicorn writes these answers through ``util.write_error``, whose only caller is
# ``Worker.handle_error``; this module is loaded by gunicorn.conf.py, so only into
# gunicorn's own processes
util.write_error = write_json_error


@dataclass
class _Head:
    """A head being read: its bytes so far and when the connection is closed (monotonic s)."""

    data: bytearray
    expires: float
    complete_by: float | None = None  # set at the first byte
    scanned: int = field(default=0)  # bytes already searched for the end of the head


def head_limit(cfg) -> int:
    """Bytes past which gunicorn's parser refuses a head without reading more (its own rules).

    ``cfg`` is gunicorn's config: ``limit_request_line``, ``limit_request_fields``,
    ``limit_request_field_size`` (bytes, a count, bytes); 0 or out of range counts
    as gunicorn's maximum. A longer head still goes to a thread, whose parser refuses it.
    """
    line = cfg.limit_request_line
    line = line if 0 < line < MAX_REQUEST_LINE else MAX_REQUEST_LINE
    fields = cfg.limit_request_fields
    fields = fields if 0 < fields <= MAX_HEADERS else MAX_HEADERS
    size = cfg.limit_request_field_size
    size = size if size > 0 else DEFAULT_MAX_HEADERFIELD_SIZE
    return line + 2 + fields * (size + 2) + 4


class HeadReadingWorker(ThreadWorker):
    """``gthread`` whose threads get only connections with a whole request head (SPEC §6).

    Set as gunicorn's ``worker_class``; gunicorn constructs it with its usual
    arguments. Timeouts: ``STALL_TIMEOUT_S`` and ``HEAD_READ_TIMEOUT_S`` (seconds).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.heads: dict[TConn, _Head] = {}
        self.head_limit = head_limit(self.cfg)
        self.next_sweep = 0.0
        self.listeners_closed = False

    def set_accept_enabled(self, enabled: bool) -> None:
        """gunicorn's switch, and once the worker stops (SIGTERM, a reload, ``max_requests``)
        its listening sockets closed (SPEC §6: stop accepting, finish what is in flight).

        gunicorn only stops watching them and closes them when its last request is done,
        seconds later; at a shutdown the kernel kept completing handshakes into their
        queue meanwhile, and those connections were reset at the close: a request a load
        balancer must not repeat (a POST without a key) was lost. What is already queued
        is accepted and served first (``_take_queued``); once the last copy of a socket is
        closed, a new connection is refused, which a load balancer retries elsewhere. At
        a reload the master and the new workers keep theirs: nothing is refused.
        """
        super().set_accept_enabled(enabled)
        if enabled or self.alive or self.listeners_closed:
            # at worker_connections gunicorn pauses accepting: not a stop; and a stop that
            # races that pause calls this twice (a closed socket's wrapper has no socket)
            return
        self.listeners_closed = True
        for listener in self.sockets:
            self._take_queued(listener)
            listener.close()

    def _take_queued(self, listener) -> None:
        """Accept what the kernel queued on ``listener``, as many as this worker has room
        for (``worker_connections``); stop at the first refusal: an empty queue, or no
        file descriptor left (the rest is then reset at the close, as before)."""
        for _ in range(max(self.worker_connections - self.nr_conns, 0)):
            try:
                client, address = listener.accept()
            except OSError as exc:
                if exc.errno in _NEXT_MAY_DO:
                    continue
                return
            # what gunicorn's accept() does with a connection (TConn, then the head)
            self.nr_conns += 1
            client.setblocking(True)
            self.enqueue_req(TConn(self.cfg, client, address, listener.getsockname()))

    def enqueue_req(self, conn: TConn) -> None:
        """Read the head of ``conn``'s next request here, then give it to a thread."""
        if not self._reads_head_here(conn):
            super().enqueue_req(conn)
            return
        conn.init()  # plain HTTP/1: only builds the parser
        if not isinstance(conn.parser, RequestParser):
            super().enqueue_req(conn)
            return
        now = time.monotonic()
        # bytes an answer read ahead are this head's start
        head = _Head(bytearray(conn.parser.unreader.take_buffered()), expires=0.0)
        head.expires = now + max(self.cfg.keepalive, STALL_TIMEOUT_S)
        if head.data:
            self._arrived(head, now)
        conn.sock.setblocking(False)
        # a kept-alive connection comes here readable: its head is often whole already
        ready = self._is_ready(head) or self._receive(conn, head)
        if ready is None:
            self._drop(conn)
        elif ready:
            self._hand_over(conn, head)
        else:
            self.heads[conn] = head
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def murder_pending(self) -> None:
        """Close what gunicorn's pending connections and the heads being read outlived."""
        super().murder_pending()
        now = time.monotonic()
        if now < self.next_sweep:
            return  # gunicorn calls this after every poll: a sweep each SWEEP_EVERY_S is enough
        self.next_sweep = now + SWEEP_EVERY_S
        for conn, head in list(self.heads.items()):
            if not self.alive and head.complete_by is None:
                # stopping: an idle connection lingers as a kept-alive one does
                head.expires = min(head.expires, now + STOP_KEEPALIVE_LINGER)
            if head.expires <= now:
                if head.data:
                    self.log.info("client too slow sending its request head: connection closed")
                self._drop(conn)

    def _reads_head_here(self, conn: TConn) -> bool:
        if conn.is_http2 or self.cfg.is_ssl:
            return False
        return conn.parser is not None or not negotiation.prior_knowledge_allowed(
            self.cfg, conn.client
        )

    def _on_readable(self, conn: TConn, _sock) -> None:
        head = self.heads.get(conn)
        if head is None:  # closed by an earlier callback of the same poll
            return
        ready = self._receive(conn, head)
        if ready is None:
            self._drop(conn)
        elif ready:
            self.poller.unregister(conn.sock)
            del self.heads[conn]
            self._hand_over(conn, head)

    def _receive(self, conn: TConn, head: _Head) -> bool | None:
        """One non-blocking read: whether the head is ready now; None if the client left."""
        try:
            data = conn.sock.recv(RECV_BYTES)
        except BlockingIOError:
            return False
        except OSError:  # reset: as good as gone
            return None
        if not data:
            return None
        head.data += data
        self._arrived(head, time.monotonic())
        return self._is_ready(head)

    def _arrived(self, head: _Head, now: float) -> None:
        if head.complete_by is None:
            head.complete_by = now + HEAD_READ_TIMEOUT_S
        head.expires = min(head.complete_by, now + STALL_TIMEOUT_S)

    def _is_ready(self, head: _Head) -> bool:
        # search only what arrived since, plus the 3 bytes an empty line may straddle
        found = HEAD_READY.search(head.data, max(head.scanned - 3, 0))
        head.scanned = len(head.data)
        return found is not None or len(head.data) > self.head_limit

    def _hand_over(self, conn: TConn, head: _Head) -> None:
        conn.parser.unreader.unread(bytes(head.data))
        super().enqueue_req(conn)

    def _drop(self, conn: TConn) -> None:
        self.heads.pop(conn, None)
        # not registered (yet), or the socket is already gone
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()
