"""Cashman: personal incomes and expenses behind Auth0 access tokens."""

from __future__ import annotations

from flask import Flask

from auth import Auth
from cashman.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the WSGI app from ``settings`` (default: the environment)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["CASHMAN_SETTINGS"] = settings
    from cashman import request_log

    request_log.init_app(app)
    Auth(settings.auth).init_app(app)

    from cashman import ping

    app.register_blueprint(ping.bp)
    from cashman import health

    app.register_blueprint(health.bp)
    return app
