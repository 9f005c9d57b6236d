"""Cashman: personal incomes and expenses behind Auth0 access tokens."""

from __future__ import annotations

from flask import Flask, Response, request
from flask_cors import CORS

from auth import Auth
from cashman import database
from cashman.config import Settings
from cashman.converters import register_converters
from cashman.errors import register_error_handlers
from cashman.jsonio import ExactJSONProvider
from cashman.parsing import MAX_BODY_BYTES

CORS_METHODS = ["GET", "POST", "PATCH", "DELETE", "OPTIONS"]
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"]
CORS_EXPOSED_HEADERS = ["Location", "Link", "WWW-Authenticate", "Retry-After", "X-Request-ID"]
CORS_MAX_AGE_S = 600
# responses that carry no caller data and may be cached
CACHEABLE_ENDPOINTS = {"docs.show", "api-docs.openapi_json", "static"}


def create_app(settings: Settings | None = None) -> Flask:
    """Build the WSGI app from ``settings`` (default: the environment)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["CASHMAN_SETTINGS"] = settings
    # werkzeug raises 413 while reading a larger body, chunked or not
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json = ExactJSONProvider(app)
    from cashman import request_log

    request_log.init_app(app)
    Auth(settings.auth).init_app(app)
    database.init_app(app, settings.database_url)
    register_error_handlers(app)
    app.before_request(answer_preflight)
    init_cors(app, settings.cors_origins)
    app.after_request(forbid_caching)
    app.after_request(drop_body_headers_without_body)

    from cashman import health, openapi, ping, transactions

    api = openapi.init_api(app)
    register_converters(app, api)
    api.register_blueprint(transactions.bp)
    app.register_blueprint(ping.bp)
    app.register_blueprint(health.bp)
    openapi.init_docs(app)
    openapi.document_plain_routes(api, app)
    return app


def init_cors(app: Flask, origins: tuple[str, ...]) -> None:
    """CORS for exactly ``CORS_ORIGINS`` (none: no cross-origin access); no credentials."""
    if not origins:
        return
    CORS(
        app,
        origins=list(origins),
        methods=CORS_METHODS,
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        supports_credentials=False,
        max_age=CORS_MAX_AGE_S,
        always_send=False,
        # Vary is ours (vary_on_origin): flask-cors would add a second "Origin"
        vary_header=False,
    )
    app.after_request(vary_on_origin)


def answer_preflight() -> Response | None:
    """Every CORS preflight is a 204, whatever the path: flask-cors then adds its headers.

    Runs before routing errors are raised: a preflight to an unknown URL answered
    404 would make the browser fail the actual request as a network error, so it
    could never read that request's JSON 404.
    """
    is_preflight = (
        request.method == "OPTIONS"
        and "Origin" in request.headers
        and "Access-Control-Request-Method" in request.headers
    )
    return Response(status=204) if is_preflight else None


def vary_on_origin(response: Response) -> Response:
    """Allowed or not, the CORS headers depend on ``Origin`` (flask-cors omits it for one)."""
    response.vary.add("Origin")
    return response


def forbid_caching(response: Response) -> Response:
    """``Cache-Control: no-store`` on everything that may carry a caller's data."""
    if request.endpoint not in CACHEABLE_ENDPOINTS:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def drop_body_headers_without_body(response: Response) -> Response:
    """A 204 or 304 has no body, so no ``Content-Type`` (RFC 9110 §8.3, §15.3.5).

    Neither has Flask's automatic ``OPTIONS`` answer (a 200 with ``Allow`` and
    no content), which would otherwise claim to be ``text/html``.
    """
    is_empty_options = request.method == "OPTIONS" and response.calculate_content_length() == 0
    if response.status_code in (204, 304) or is_empty_options:
        response.headers.pop("Content-Type", None)
    return response
