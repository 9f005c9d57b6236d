"""The Flask extension: one ``TokenVerifier`` per app and the ``AuthError`` handler."""

from __future__ import annotations

import logging

import requests
from flask import Flask, Response, request

from auth.errors import AuthError, render_auth_error
from auth.settings import AuthSettings, check_jose_backend
from auth.verify import TokenVerifier

logger = logging.getLogger(__name__)


class Auth:
    """``Auth(settings).init_app(app)``: owns the JWKS caches and the verified-token cache."""

    def __init__(
        self,
        settings: AuthSettings,
        app: Flask | None = None,
        *,
        session: requests.Session | None = None,
    ) -> None:
        """The verifier for ``settings`` (its JWKS caches share ``session``, a new one if None).

        Raises ``ConfigError`` when python-jose lacks its ``cryptography`` backend (SPEC §2);
        with ``app``, registers on it at once (``init_app``).
        """
        check_jose_backend()
        self.settings = settings
        self.verifier = TokenVerifier(settings, session=session)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register on ``app``: ``app.extensions["auth"]`` and the JSON error handler."""
        app.extensions["auth"] = self
        app.register_error_handler(AuthError, self.handle_error)

    def handle_error(self, err: AuthError) -> Response:
        """Answer an ``AuthError`` (RFC 6750 §3) and log why, never the token."""
        level = logging.WARNING if err.status >= 500 else logging.INFO
        logger.log(
            level, "auth refused %s %s: %s (%s)", request.method, request.path, err.code, err.reason
        )
        return render_auth_error(err, self.settings.realm)
