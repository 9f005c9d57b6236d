"""The apps compared side by side, how each is started, and what each is asked.

Every app runs with 2 workers (processes) by default; the Python ones with 2 threads
each, the same on granian and gunicorn. All trust the bench's loopback issuer, each
through its own JWKS path so its fetches are counted apart.

| key             | app                                   | server                        |
|-----------------|---------------------------------------|-------------------------------|
| cashman-granian | Cashman (``server:app``)              | granian (``cashman.serve``)   |
| cashman-gunicorn| Cashman                               | gunicorn, ``gunicorn.conf.py``|
| bare-granian    | ``bench/apps/flask_jose.py``          | granian's CLI                 |
| bare-gunicorn   | ``bench/apps/flask_jose.py``          | gunicorn, ``gunicorn.conf.py``|
| express         | ``bench/express/server.js``           | Node cluster                  |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from . import servers
from .issuer import AUDIENCE, JWKSServer

SEED_ROWS = 60  # incomes of the reading user: a full page of 50 and a next link

# endpoint key -> what it is, in the order tables list them
ENDPOINTS = {
    "ping": "`GET /ping`",
    "secured_one": "`GET /secured/ping`, one repeated token",
    "secured_pool": "`GET /secured/ping`, pool of distinct tokens",
    "incomes_get": "`GET /incomes` (page of 50)",
    "incomes_post": "`POST /incomes`",
}
BASIC = ("ping", "secured_one", "secured_pool")


@dataclass(frozen=True)
class App:
    """One app on one server: ``family`` is cashman, bare or express."""

    key: str
    label: str
    family: str
    server: str

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(ENDPOINTS) if self.family == "cashman" else BASIC


APPS = (
    App("cashman-granian", "Cashman on granian", "cashman", "granian"),
    App("cashman-gunicorn", "Cashman on gunicorn", "cashman", "gunicorn"),
    App("bare-granian", "bare Flask + python-jose on granian", "bare", "granian"),
    App("bare-gunicorn", "bare Flask + python-jose on gunicorn", "bare", "gunicorn"),
    App("express", "express + express-oauth2-jwt-bearer (Node cluster)", "express", "node"),
)
APPS_BY_KEY = {a.key: a for a in APPS}


def cashman_env(jwks: JWKSServer, app_key: str, database_url: str) -> dict[str, str]:
    """What Cashman (and the project's gunicorn.conf.py, which checks it) is given."""
    return {
        "AUTH0_ISSUER": jwks.issuer,
        "API_AUDIENCE": AUDIENCE,
        "AUTH0_JWKS_URL": jwks.jwks_url_for(app_key),
        "DATABASE_URL": database_url,
    }


def make_server(
    app: App,
    jwks: JWKSServer,
    tmp: Path,
    workers: int = 2,
    threads: int = 2,
    database_url: str = "",
    extra_env: Mapping[str, str] | None = None,
) -> servers.Server:
    """A not yet started server for ``app`` on a free loopback port; logs under ``tmp``.

    ``database_url``: Cashman's database (default: a fresh SQLite file of its own). The bare
    app gets the same variables, because gunicorn.conf.py checks them at start.
    """
    port = servers.free_port()
    url = database_url or f"sqlite:///{tmp / (app.key + '.db')}"
    env = {**cashman_env(jwks, app.key, url), **(extra_env or {})}
    cwd = servers.ROOT
    if app.key == "cashman-granian":
        command = servers.cashman_granian_command(port, workers, threads)
    elif app.key == "cashman-gunicorn":
        command = servers.gunicorn_command("server:app", port, workers, threads)
    elif app.family == "bare":
        cwd = servers.BARE_APP_DIR
        build = servers.granian_command if app.server == "granian" else servers.gunicorn_command
        command = build("flask_jose:app", port, workers, threads)
    elif app.family == "express":
        command = servers.express_command(port, workers)
        env = {"ISSUER_BASE_URL": jwks.issuer, "AUDIENCE": AUDIENCE, "NODE_ENV": "production"}
    else:
        raise ValueError(f"unknown app {app.key}")
    return servers.Server(
        command=command,
        env=env,
        log_path=tmp / f"{app.key}.log",
        port=port,
        workers=workers,
        cwd=cwd,
        name=app.key,
    )


def jwks_fetches(app: App, jwks: JWKSServer) -> int:
    """Key-set fetches the app made (express reads the standard path, after discovery)."""
    if app.family == "express":
        return jwks.fetches_by_path["/.well-known/jwks.json"]
    return jwks.fetches_of(app.key)


def seed(base_url: str, token: str, rows: int) -> None:
    """Create ``rows`` incomes for the token's user through the public API."""
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token}"
        for i in range(rows):
            r = s.post(
                f"{base_url}/incomes",
                json={"description": f"bench income {i}", "amount": i + 1.25},
                timeout=10,
            )
            r.raise_for_status()


def check_answers(base_url: str, method: str, path: str, token: str = "", body=None) -> None:
    """The request answers 2xx before it is measured (no figure made of 401s)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = requests.request(method, base_url + path, headers=headers, json=body, timeout=10)
    if not 200 <= r.status_code < 300:
        raise SystemExit(f"{method} {base_url}{path}: {r.status_code} {r.text[:300]}")
