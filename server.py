"""WSGI entry point: ``gunicorn server:app``; ``python server.py`` for development.

The module-level ``app`` is the production application (``gunicorn
server:app``; ``python -m cashman.serve`` builds the same one): it never
starts the development issuer, whatever the environment says, and refuses
the ``CASHMAN_DEV_ISSUER`` switch outright. Only ``python server.py`` may
start it, bound to loopback, and only when no tenant is configured (neither
``AUTH0_DOMAIN`` nor ``AUTH0_ISSUER``); with a tenant it runs the
development server against that tenant. Both read ``.env`` if present (the
environment wins), and a bad setting is one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from dotenv import load_dotenv
from flask import Flask
from werkzeug.serving import WSGIRequestHandler

from auth import ConfigError, dev_issuer
from cashman import create_app, lifecycle, request_log
from cashman.config import Settings
from cashman.startup import fail

ROOT = Path(__file__).resolve().parent
DEV_TOKEN_LIFETIME_S = 24 * 3600

load_dotenv(ROOT / ".env", override=False)


def build_app(env: Mapping[str, str]) -> Flask:
    """The API configured from ``env``; a bad setting stops the process with one line."""
    try:
        return create_app(Settings.from_env(env))
    except ConfigError as exc:
        fail(str(exc))


def print_dev_banner(base_url: str, token: str, audience: str) -> None:
    """Say loudly what this is, then give ready-to-paste curl lines."""
    rule = "=" * 78
    print(f"{rule}\n{dev_issuer.WARNING}\n{rule}", file=sys.stderr, flush=True)
    scopes = " ".join(dev_issuer.DEFAULT_SCOPES)
    auth_header = f'"Authorization: Bearer {token}"'
    print(
        "\n".join(
            [
                dev_issuer.WARNING,
                f"Cashman API (development issuer) on {base_url}",
                f"  issuer {dev_issuer.DEV_ISSUER}  audience {audience}",
                f'Token for sub "{dev_issuer.DEFAULT_SUB}" with scopes "{scopes}", valid 24 h:',
                "",
                f"TOKEN={token}",
                "",
                "Try it:",
                f"  curl -H {auth_header} {base_url}/secured/ping",
                f"  curl -H {auth_header} {base_url}/incomes",
                "",
                "Mint tokens for other users, scopes and lifetimes:",
                "  .venv/bin/python -m auth.dev_issuer --sub alice "
                "--scope read:transactions --expires-in 3600",
                "",
            ]
        ),
        flush=True,
    )


class QuietRequestHandler(WSGIRequestHandler):
    """No werkzeug access line: it would print the query string (``?access_token=``);
    the app logs one redacted JSON line per request itself."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip werkzeug's per-request line."""


def start_dev_issuer(host: str, env: dict[str, str]) -> tuple[dev_issuer.DevIssuer, dict[str, str]]:
    """Serve the dev key's JWKS on loopback; returns the issuer and the env trusting it."""
    try:
        dev_issuer.require_loopback(host)
    except dev_issuer.DevIssuerError as exc:
        fail(f"--host: {exc}")
    issuer = dev_issuer.DevIssuer.load()
    jwks_host = "::1" if host.strip("[]") == "::1" else "127.0.0.1"
    jwks_server = dev_issuer.serve_jwks(issuer, host=jwks_host)
    return issuer, dev_issuer.environment(jwks_server, env)


def run_development(argv: Sequence[str] | None = None) -> None:
    """``python server.py``: the werkzeug server, with the dev issuer when no tenant is set."""
    parser = argparse.ArgumentParser(prog="python server.py", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: PORT, else 5000)")
    args = parser.parse_args(argv)
    host = args.host.strip("[]")
    env = dict(os.environ)
    issuer = None
    if not dev_issuer.has_tenant(env):
        issuer, env = start_dev_issuer(host, env)
    app = build_app(env)
    settings: Settings = app.config["CASHMAN_SETTINGS"]
    request_log.log_startup(settings.auth.issuers, settings.auth.api_audience)
    port = args.port or settings.port
    if issuer is not None:
        audience = env["API_AUDIENCE"]
        token = issuer.mint(expires_in=DEV_TOKEN_LIFETIME_S, audience=audience)
        url_host = f"[{host}]" if ":" in host else host
        print_dev_banner(f"http://{url_host}:{port}", token, audience)
    app.run(
        host=host,
        port=port,
        debug=False,
        use_reloader=False,
        request_handler=QuietRequestHandler,
    )


if __name__ == "__main__":
    run_development()
else:
    # gunicorn imports this module in each worker: the settings its master checked
    app = lifecycle.worker_app()
