"""Production settings for ``gunicorn server:app`` (gunicorn reads this file by itself).

The configuration is checked once, in the master, as this file is read and
so before gunicorn prints anything or starts a worker: a bad setting is one
line on stderr and exit status 2, not one stack trace per worker. The schema
migration runs once in ``on_starting``, so the workers start on an
up-to-date database. The header limits leave room for an
8 KiB token, so that oversized tokens reach the app and get its JSON 400.
Every value can be changed through the environment (or ``.env``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent
# gunicorn executes this file before it changes directory: find the app's packages here
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
load_dotenv(ROOT / ".env", override=False)

from auth import ConfigError, dev_issuer  # noqa: E402 - needs ROOT on sys.path
from cashman import request_log  # noqa: E402
from cashman.config import Settings  # noqa: E402


def _fail(message: str) -> NoReturn:
    print(f"cashman: configuration error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def _int_env(names: tuple[str, ...], default: int, low: int, high: int) -> int:
    """The first of ``names`` that is set, as an integer in [low, high]."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        if not value.isdigit() or not low <= int(value) <= high:
            _fail(f"{name}: must be an integer between {low} and {high}")
        return int(value)
    return default


def _default_workers() -> int:
    # 2 x cores + 1 (gunicorn's advice), capped: each worker holds its own JWKS
    # cache and database pool, and past a few workers gthread threads scale better
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(2 * (cores or 1) + 1, 12)


_port = _int_env(("PORT",), 8000, 1, 65535)
bind = os.environ.get("GUNICORN_BIND", "").strip() or f"0.0.0.0:{_port}"
workers = _int_env(("GUNICORN_WORKERS", "WEB_CONCURRENCY"), _default_workers(), 1, 64)
worker_class = "gthread"
threads = _int_env(("GUNICORN_THREADS",), 4, 1, 64)
timeout = _int_env(("GUNICORN_TIMEOUT",), 30, 1, 3600)
graceful_timeout = _int_env(("GUNICORN_GRACEFUL_TIMEOUT",), 30, 1, 3600)
# keep idle client connections a little longer than a typical load balancer's 60 s
keepalive = _int_env(("GUNICORN_KEEPALIVE",), 75, 0, 3600)

# 8 KiB token + "Authorization: Bearer " + other headers must reach the app,
# which answers an oversized token with its own JSON 400 (SPEC section 3)
limit_request_line = 8190
limit_request_field_size = 32768
limit_request_fields = 100

# the app writes one JSON line per request itself (cashman.request_log)
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# heartbeat files in memory: a container's overlay filesystem can stall them
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
proc_name = "cashman"
# Cashman uses no runtime control interface; gunicorn's default socket lives at one
# fixed path in the home directory, where two instances on a host collide and a
# container's non-root user may have nowhere to write it.
control_socket_disable = True


def _check_configuration() -> Settings:
    """Refuse the dev-issuer switch and validate every setting, once, in the master."""
    refusal = dev_issuer.production_refusal(os.environ)
    if refusal:
        _fail(refusal)
    try:
        return Settings.from_env()
    except ConfigError as exc:
        _fail(str(exc))


_settings = _check_configuration()


# gunicorn's own lines may quote a request line, ?access_token= included (SPEC section 3)
GUNICORN_ERROR_LOGGER = "gunicorn.error"


def on_starting(server: object) -> None:
    """In the master, before workers fork: log what is trusted, migrate the schema."""
    request_log.install_redaction(GUNICORN_ERROR_LOGGER)
    request_log.log_startup(_settings.auth.issuers, _settings.auth.api_audience)
    _migrate(_settings.database_url)


def post_fork(server: object, worker: object) -> None:
    """In each worker (which logs malformed requests): the redaction, also after a reload."""
    request_log.install_redaction(GUNICORN_ERROR_LOGGER)


def _migrate(database_url: str) -> None:
    """Bring the schema up to date once, before workers start (they re-check, under a lock)."""
    from sqlalchemy.exc import SQLAlchemyError

    from cashman.migrate import upgrade
    from cashman.models import build_engine

    engine = build_engine(database_url)
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        _fail(f"DATABASE_URL: cannot bring the database schema up to date ({type(exc).__name__})")
    finally:
        # no pooled connection may be inherited by the forked workers
        engine.dispose()
