"""A production server's process life: what its parent does once, what each worker builds.

Both production entries, ``python -m cashman.serve`` (granian) and
``gunicorn server:app`` (``gunicorn.conf.py``), call the same functions at
the same moments (SPEC §6):

- ``prepare()``: in the parent, once, before any worker starts: the
  configuration is checked (one line and exit 2 if it is bad) and kept, so
  that forked workers build the app from it instead of checking it again;
- ``before_workers_start()``: in the parent, just before the first worker
  is started: the start-up line naming the issuers and audience, and the
  server's own directory where every worker registers its pid
  (``cashman.worker_registry``). A parent-side listener (the Prometheus
  ``METRICS_BIND`` one) starts here too;
- ``worker_exited()``: in the parent, whenever a worker process ends
  (stopped, crashed, replaced): one JSON line, and the worker's registration
  is dropped. Per-worker state kept by the parent (multiprocess metrics
  files) is released here too;
- ``worker_app()``: in each worker: the app, wrapped so that every answer
  leaves its connection usable or closed (``cashman.body_buffer``).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from cashman import create_app, metrics_listener, request_log
from cashman.body_buffer import BodyBuffer
from cashman.config import Settings
from cashman.server_config import Bind, listen_problem
from cashman.startup import (
    check_production_settings,
    exit_on_config_error,
    fail,
    migrated_by_parent,
)
from cashman.worker_registry import DIRECTORY_VARIABLE, WorkerRegistry

logger = logging.getLogger("cashman")

# the settings the parent checked; a forked worker finds them here
_checked: Settings | None = None
# the parent's registry of its workers; a forked worker finds it here too
_registry: WorkerRegistry | None = None
# whether this process checked the addresses it listens on (check_listeners)
_listeners_checked = False


def prepare(env: Mapping[str, str] | None = None) -> Settings:
    """Check the configuration once, in the parent (one line and exit 2 if bad); keep it."""
    global _checked
    _checked = check_production_settings(env)
    return _checked


def check_listeners(settings: Settings, api: Bind, api_source: str | None = None) -> None:
    """In the parent, with the API's address known: ``METRICS_BIND``, when set, is another
    address this host can listen on, and so is the API's when ``api_source`` (the variable
    that gave it) is given (else one line naming it and exit 2; SPEC §2, §6).

    Once per process: gunicorn runs its configuration file again on SIGHUP, when it holds
    both addresses itself (they would look taken, and the reload would stop the server).
    """
    global _listeners_checked
    if _listeners_checked:
        return
    if api_source is not None:
        problem = listen_problem(api)
        if problem is not None:
            fail(f"{api_source}: cannot listen on {api} ({problem})")
    if settings.metrics_bind is not None:
        with exit_on_config_error():
            metrics_listener.check_metrics_bind(settings.metrics_bind, api)
            metrics_listener.check_multiprocess_directory()
    _listeners_checked = True


def before_workers_start(settings: Settings) -> None:
    """In the parent, before the first worker starts: say which issuers and audience are
    trusted, log each of the settings' start-up warnings once (``log_startup_warnings``:
    DPoP off for lack of ``API_BASE_URL``, SPEC §3a; an issuer its tokens will not match),
    and start the metrics listener when ``METRICS_BIND`` is set (SPEC §6)."""
    request_log.log_startup(settings.auth.issuers, settings.auth.api_audience)
    log_startup_warnings(settings)
    registry = worker_registry()
    if settings.metrics_bind is not None:
        metrics_listener.start(settings.metrics_bind, registry.directory)


def log_startup_warnings(settings: Settings) -> None:
    """Each of ``settings.auth.startup_warnings`` as one JSON line, event
    ``startup_warning`` (SPEC §2: a likely mistake is a warning, not a refusal)."""
    for warning in settings.auth.startup_warnings:
        logger.warning(json.dumps({"event": "startup_warning", "message": warning}))


def worker_registry() -> WorkerRegistry:
    """In the parent: this server's registry of workers, made (once) before any is forked."""
    global _registry
    if _registry is None:
        _registry = WorkerRegistry.create()
        _registry.install_fork_hook()
        atexit.register(_registry.remove)
    return _registry


def worker_exited(pid: int) -> None:
    """In the parent, when the worker process ``pid`` has ended, for whatever reason."""
    request_log.configure_logging()
    logger.info(json.dumps({"event": "worker_exit", "pid": pid}))
    if _registry is not None:
        _registry.forget(pid)
    metrics_listener.worker_ended(pid)


def _register_worker() -> None:
    """In a worker: register, if the fork hook has not (a worker started by ``spawn``)."""
    if _registry is not None:
        _registry.register()
    elif os.environ.get(DIRECTORY_VARIABLE):
        WorkerRegistry(Path(os.environ[DIRECTORY_VARIABLE]), os.getppid()).register()


def worker_app(app_slots: int | None = None) -> Flask:
    """In a worker: the app from the parent's checked settings (checked here if there are none).

    The settings are there when the parent ran ``prepare()`` and forked this
    worker; a server started without its configuration file (``gunicorn
    server:app`` from elsewhere) checks them in each worker instead, with
    the same one-line refusal. ``app_slots``: see ``BodyBuffer``.
    """
    _register_worker()
    metrics_listener.close_inherited()
    settings = _checked or check_production_settings()
    with exit_on_config_error():
        app = create_app(settings, migrate=not migrated_by_parent(settings.database_url))
    # Flask's documented way to wrap the WSGI app in middleware
    app.wsgi_app = BodyBuffer(app.wsgi_app, app_slots)  # type: ignore[method-assign]
    return app
