"""Cashman: personal incomes and expenses behind Auth0 access tokens (SPEC §1).

``create_app`` wires the pieces; each lives in its own module (README: code map).
"""

from __future__ import annotations

import os
from functools import partial

from flask import Flask

from auth import Auth, AuthObserver
from cashman import (
    app_events,
    database,
    docs,
    dpop_replay,
    health,
    openapi,
    ping,
    request_cycle,
    resource_metadata,
    transactions,
)
from cashman.application import CashmanFlask
from cashman.config import Settings
from cashman.converters import register_converters
from cashman.errors import register_error_handlers
from cashman.jsonio import ExactJSONProvider
from cashman.parsing import MAX_BODY_BYTES


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> Flask:
    """Build the WSGI app from ``settings`` (default: ``Settings.from_env()``).

    Opens the database and, with ``migrate`` (False: a production worker whose server
    migrated before forking it), brings its schema up to date. Raises
    ``auth.ConfigError`` (one line naming the variable) for a bad setting or a database
    it cannot migrate.
    """
    settings = settings or Settings.from_env()
    app = CashmanFlask(__name__)
    app.config["CASHMAN_SETTINGS"] = settings
    # werkzeug raises 413 while reading a larger body, chunked or not
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json = ExactJSONProvider(app)
    db = database.init_app(app, settings.database_url, migrate=migrate)
    # DPoP jtis live in the app's database: every worker and instance shares them (SPEC §3a)
    replay_store = None
    if settings.auth.dpop.is_enabled:
        replay_store = dpop_replay.init_app(db, partial(_database_error, app))
    observer = _metrics_observer(app, settings)
    Auth(settings.auth, replay_store=replay_store, observer=observer).init_app(app)
    register_error_handlers(app)
    request_cycle.init_app(app, settings.cors_origins)

    dpop = settings.auth.dpop
    api = openapi.init_api(app, dpop.schemes, dpop.auth_dpop_algorithms, dpop.api_base_url)
    register_converters(app, api)
    for blueprint in (transactions.bp, ping.bp, health.bp, docs.bp, resource_metadata.bp):
        api.register_blueprint(blueprint)
    docs.init_app(app, api, dpop.api_base_url)
    return app


def _database_error(app: Flask, error: str) -> None:
    """A replay-store write failed: counted as the app's other database errors (SPEC §6)."""
    app_events.database_error.send(app, error=error)


def _metrics_observer(app: Flask, settings: Settings) -> AuthObserver:
    """Count into the multiprocess files when a production entry serves metrics (SPEC §6)."""
    if settings.metrics_bind is None or not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # no listener (the development server skips metrics): nothing to count
        return AuthObserver()
    # imported here: prometheus_client must first see the directory the entry set
    from cashman import metrics

    return metrics.init_app(app)
