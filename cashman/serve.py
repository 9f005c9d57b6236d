"""``python -m cashman.serve``: the production server, granian's WSGI interface (SPEC §6).

Per request granian's HTTP layer (Rust) costs far less CPU than gunicorn's
Python one. ``--bind``, ``--workers`` and ``--threads`` override ``BIND``,
``WEB_CONCURRENCY`` and ``WEB_THREADS``; ``.env`` in the project directory
is read if present (the environment wins).

In this parent process, before any worker starts: the configuration is
checked (a bad setting is one line and exit status 2), the schema migrated,
the address tried, and the start-up line written; workers build the app
from the settings checked here. The rest is granian's, configured so that:

- request heads of up to ``MAX_HEAD_BYTES`` reach the app, an 8 KiB token
  with them, so an oversized token gets the API's JSON 400; heads past its
  read buffer get granian's own empty 431 (too many headers as well; a head of
  100 KB sent at once may still be read whole: the cut depends on how the
  bytes arrive), an over-long URL its empty 414, a malformed request its
  empty 400;
- a head must arrive within ``HEAD_READ_TIMEOUT_S`` (granian parses heads
  in Rust: a slow one holds no Python thread). The same timer closes a
  kept-alive connection left idle that long;
- a body gets one deadline for all of it (``cashman.body_deadline``). A
  request whose body read is still blocked then is answered, but held open
  until that read ends; up to ``PARKED_REQUESTS`` of them per worker wait on
  threads of their own, so the app keeps its ``--threads``;
- SIGTERM stops accepting at once, lets requests in flight finish (at most
  ``GRACEFUL_TIMEOUT_S``), then exits; a worker that dies is replaced
  (granian gives up, and exits, if a replaced worker dies again within
  5.5 s: a crash loop is for the orchestrator to see);
- no access log: the app writes one redacted JSON line per request, and
  granian's own lines go through the same token redaction, on stderr.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from flask import Flask

from auth import ConfigError
from auth.env_file import load_env_file
from cashman import lifecycle
from cashman.config import PROJECT_ROOT
from cashman.parent_watch import watch_parent
from cashman.server_config import ServerSettings
from cashman.startup import exit_on_config_error, fail, migrate_or_exit
from cashman.worker_watch import WorkerWatch

HEAD_READ_TIMEOUT_S = 30
# 64 KiB of request head: an 8 KiB token and every ordinary header fit
MAX_HEAD_BYTES = 64 * 1024
GRACEFUL_TIMEOUT_S = 30
# granian threads beyond --threads, for requests held open by a stalled body
PARKED_REQUESTS = 16
# the options stand in for their variables; an error names the option
OPTION_ALIASES = {"BIND": "--bind", "WEB_CONCURRENCY": "--workers", "WEB_THREADS": "--threads"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; ``--help`` prints the usage, an unknown option is a usage error."""
    parser = argparse.ArgumentParser(
        prog="python -m cashman.serve",
        description="Run the Cashman API in production (granian, WSGI).",
    )
    add = parser.add_argument
    add("--bind", metavar="HOST:PORT", help="default: BIND, else 0.0.0.0:$PORT (port 5000)")
    add("--workers", metavar="N", help="worker processes; default: WEB_CONCURRENCY, else cores")
    add("--threads", metavar="N", help="threads per worker; default: WEB_THREADS, else 4")
    return parser.parse_args(argv)


def server_settings(args: argparse.Namespace, env: Mapping[str, str]) -> ServerSettings:
    """Address and size from the options, else the environment; one line and exit 2 if bad."""
    options = {"--bind": args.bind, "--workers": args.workers, "--threads": args.threads}
    merged = {**env, **{name: value for name, value in options.items() if value is not None}}
    try:
        return ServerSettings.from_env(merged, aliases=OPTION_ALIASES)
    except ConfigError as exc:
        fail(str(exc))


def bind_source(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """The option or variable the address came from, to name it in an error."""
    if args.bind:
        return "--bind"
    return "BIND" if env.get("BIND", "").strip() else "PORT"


def log_config() -> dict[str, Any]:
    """granian's ``logging`` configuration: its lines on stderr, tokens redacted (SPEC §3)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "cashman.redaction.RedactTokens"}},
        "formatters": {"plain": {"format": "[granian] [%(levelname)s] %(message)s"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "_granian": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }


def load_app(_target: str, app_slots: int | None = None) -> Flask:
    """granian's target loader, run in each worker: the app from the parent's settings."""
    # The worker starts with the parent's signal handlers (fork), which only set flags
    # on the parent's server object: a SIGTERM arriving while this worker still builds
    # the app was lost, and a rolling restart then waited out the 30 s kill timeout.
    # Nothing is in flight yet, so such a signal simply ends the worker; granian puts
    # its own handlers in place once the app is loaded.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # a worker whose parent was killed outright stops too, instead of serving on unseen
    watch_parent(grace_s=GRACEFUL_TIMEOUT_S)
    return lifecycle.worker_app(app_slots)


def build_server(size: ServerSettings) -> Any:
    """A granian server for ``size``, not started."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    return Granian(
        # a label for granian's own lines: the app comes from load_app
        "cashman.serve:load_app",
        address=size.bind.host,
        port=size.bind.port,
        interface=Interfaces.WSGI,
        workers=size.workers,
        # the app runs on size.threads of them (BodyBuffer's app slots)
        blocking_threads=size.threads + PARKED_REQUESTS,
        # one protocol, with the head limits above (h2c would bring its own, far larger)
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(
            header_read_timeout=HEAD_READ_TIMEOUT_S * 1000,
            keep_alive=True,
            max_buffer_size=MAX_HEAD_BYTES,
        ),
        log_access=False,
        log_dictconfig=log_config(),
        respawn_failed_workers=True,
        workers_kill_timeout=GRACEFUL_TIMEOUT_S,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Check, migrate, then serve until SIGTERM or SIGINT."""
    args = parse_args(argv)
    with exit_on_config_error():
        load_env_file(PROJECT_ROOT / ".env")
    settings = lifecycle.prepare(os.environ)
    size = server_settings(args, os.environ)
    # the API's address too: granian would otherwise fail with a stack trace when it binds
    lifecycle.check_listeners(settings, size.bind, api_source=bind_source(args, os.environ))
    migrate_or_exit(settings.database_url)

    server = build_server(size)
    server.on_startup(partial(lifecycle.before_workers_start, settings))
    watch = WorkerWatch(lifecycle.worker_exited, registry=lifecycle.worker_registry())
    server.on_startup(watch.start)
    server.on_shutdown(watch.stop)
    server.serve(target_loader=partial(load_app, app_slots=size.threads))


if __name__ == "__main__":
    main(sys.argv[1:])
