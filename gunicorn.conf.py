"""Production settings for ``gunicorn server:app`` (gunicorn reads this file by itself).

The other production entry, beside ``python -m cashman.serve`` (granian),
with the same guarantees (SPEC §6), through gunicorn's public hooks:

- the configuration is checked once, in the master, as this file is read
  (so before gunicorn prints anything or starts a worker): a bad setting is
  one line on stderr and exit status 2, not one stack trace per worker. The
  schema is migrated here too, once; workers build the app from the
  settings checked here (``cashman.lifecycle``);
- ``BIND``, ``WEB_CONCURRENCY``, ``WEB_THREADS`` (SPEC §2) set the address
  and size; the older ``GUNICORN_BIND``, ``GUNICORN_WORKERS``,
  ``GUNICORN_THREADS`` still work and, when set, win;
- the head limits leave room for an 8 KiB token, so an oversized one gets
  the API's JSON 400;
- request heads are read without a thread (``cashman.gunicorn_worker``): a
  stall of ``CLIENT_STALL_TIMEOUT_S``, or a head not whole within 30 s, closes
  the connection, so trickling clients hold no thread; a client that stalls
  for ``CLIENT_STALL_TIMEOUT_S`` while sending its body or reading its answer
  is cut off (gthread's threads read with blocking sockets, which would
  otherwise wait forever), and a body gets one deadline for all of it
  (``cashman.body_deadline``);
- an answer given before the body ended closes the connection, and says so
  (``pre_request`` gives ``cashman.body_buffer`` the way to close it);
- SIGTERM: gunicorn stops accepting, finishes requests in flight (at most
  ``GUNICORN_GRACEFUL_TIMEOUT``) and exits; a dead worker is replaced;
- no access log: the app writes one redacted JSON line per request.

Every value can be changed through the environment (or ``.env``).
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
# gunicorn executes this file before it changes directory: find the app's packages here
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from auth.env_file import load_env_file  # noqa: E402 - needs ROOT on sys.path
from auth.variables import ConfigError, get_value  # noqa: E402
from cashman import lifecycle, redaction  # noqa: E402
from cashman.body_buffer import set_connection_closer  # noqa: E402
from cashman.gunicorn_worker import STALL_TIMEOUT_S  # noqa: E402
from cashman.server_config import ServerSettings, cores, int_setting  # noqa: E402
from cashman.startup import exit_on_config_error, migrate_or_exit  # noqa: E402

with exit_on_config_error():  # as cashman.serve: nothing of cashman reads it on import
    load_env_file(ROOT / ".env")

GUNICORN_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# under gunicorn its own older names keep working, and win when set
GUNICORN_ALIASES = {
    "BIND": "GUNICORN_BIND",
    "WEB_CONCURRENCY": "GUNICORN_WORKERS",
    "WEB_THREADS": "GUNICORN_THREADS",
}
# no byte from a client for this long, while gunicorn reads a body or writes an answer
# (the worker class reads heads itself, with the same stall timeout)
CLIENT_STALL_TIMEOUT_S = STALL_TIMEOUT_S


def _default_workers() -> int:
    # 2 x cores + 1 (gunicorn's advice), capped: each worker holds its own JWKS
    # cache and database pool, and past a few workers gthread threads scale better
    return min(2 * cores() + 1, 12)


_settings = lifecycle.prepare()
with exit_on_config_error():
    _size = ServerSettings.from_env(
        os.environ, default_workers=_default_workers, aliases=GUNICORN_ALIASES
    )
    timeout = int_setting(os.environ, ("GUNICORN_TIMEOUT",), 30, 1, 3600)
    graceful_timeout = int_setting(os.environ, ("GUNICORN_GRACEFUL_TIMEOUT",), 30, 1, 3600)
    # keep idle client connections a little longer than a typical load balancer's 60 s
    keepalive = int_setting(os.environ, ("GUNICORN_KEEPALIVE",), 75, 0, 3600)
    # gunicorn itself takes an unknown level silently as "info"
    loglevel = (get_value(os.environ, "GUNICORN_LOGLEVEL") or "info").lower()
    if loglevel not in GUNICORN_LOG_LEVELS:
        raise ConfigError("GUNICORN_LOGLEVEL", f"must be one of {', '.join(GUNICORN_LOG_LEVELS)}")
# the API's address is checked here too: gunicorn's own failure to bind is a page of
# retries and exit status 1 (SPEC §6: one line, status 2)
_bind_source = next((n for n in ("GUNICORN_BIND", "BIND") if get_value(os.environ, n)), "PORT")
lifecycle.check_listeners(_settings, _size.bind, api_source=_bind_source)
migrate_or_exit(_settings.database_url)

bind = str(_size.bind)
workers = _size.workers
threads = _size.threads
# gthread, except that a request head is read without a thread (slow clients, SPEC §6)
worker_class = "cashman.gunicorn_worker.HeadReadingWorker"

# 8 KiB token + "Authorization: Bearer " + other headers must reach the app,
# which answers an oversized token with its own JSON 400 (SPEC section 3)
limit_request_line = 8190
limit_request_field_size = 32768
limit_request_fields = 100

# the app writes one JSON line per request itself (cashman.request_log)
accesslog = None
errorlog = "-"
# heartbeat files in memory: a container's overlay filesystem can stall them
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
proc_name = "cashman"
# Cashman uses no runtime control interface; gunicorn's default socket lives at one
# fixed path in the home directory, where two instances on a host collide and a
# container's non-root user may have nowhere to write it.
control_socket_disable = True

# gunicorn's own lines may quote a request line, ?access_token= included (SPEC section 3)
GUNICORN_ERROR_LOGGER = "gunicorn.error"


class OneLineStalls(logging.Filter):
    """A client cut off by the stall timeout is logged as one line, not a socket error.

    gunicorn reports the timed-out read or write (``EAGAIN`` from a blocking
    socket) as "Socket error processing request." with a stack trace; it is
    the client's doing, and expected.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BlockingIOError | TimeoutError):
            record.msg = "client stalled for %ss: connection closed"
            record.args = (CLIENT_STALL_TIMEOUT_S,)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _install_log_filters() -> None:
    target = logging.getLogger(GUNICORN_ERROR_LOGGER)
    if not any(isinstance(f, OneLineStalls) for f in target.filters):
        target.addFilter(OneLineStalls())
    redaction.install_redaction(GUNICORN_ERROR_LOGGER)


def on_starting(server: Any) -> None:
    """In the master, before the workers: log filters, and what happens before any worker."""
    _install_log_filters()
    lifecycle.before_workers_start(_settings)


def when_ready(server: Any) -> None:
    """In the master, listeners bound: accepted sockets inherit the stall timeouts (Linux)."""
    stall = struct.pack("ll", CLIENT_STALL_TIMEOUT_S, 0)
    for listener in server.LISTENERS:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, stall)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, stall)


def post_fork(server: Any, worker: Any) -> None:
    """In each worker (which logs malformed requests): the log filters, also after a reload."""
    _install_log_filters()


def pre_request(worker: Any, req: Any) -> None:
    """Before the app: how ``cashman.body_buffer`` closes this connection after its answer."""

    def close_after_answer() -> None:
        # what gunicorn itself sets for a request that must not be followed on its
        # connection: the answer then says "Connection: close" and the socket closes
        req.must_close = True

    set_connection_closer(close_after_answer)


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """After the answer: the thread's next request starts with no closer."""
    set_connection_closer(None)


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker process has ended."""
    lifecycle.worker_exited(worker.pid)
