"""WSGI entry point: ``gunicorn server:app``; ``python server.py`` for development.

The module-level ``app`` is the production application (``gunicorn
server:app``; ``python -m cashman.serve`` builds the same one): it never
starts the development issuer, whatever the environment says, and refuses
the ``CASHMAN_DEV_ISSUER`` switch outright. Only ``python server.py`` may
start it, bound to loopback, and only when no tenant is configured (neither
``AUTH0_DOMAIN`` nor ``AUTH0_ISSUER``); with a tenant it runs the
development server against that tenant. Both read ``.env`` if present (the
environment wins), and a bad setting is one line on stderr, exit status 2.
Without ``API_BASE_URL``, only ``python server.py`` compares DPoP proofs with
the request's own URL (SPEC §3a).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from auth import ConfigError, DPoPSettings, dev_issuer
from auth.bearer import BEARER
from auth.dev_token import DevIssuerServer
from auth.dpop_proof import load_key
from auth.env_file import load_env_file
from auth.variables import get_value
from cashman import create_app, lifecycle, request_log
from cashman.config import Settings, cors_origins_from_env
from cashman.dev_request_handler import QuietRequestHandler
from cashman.server_config import Bind, listen_problem
from cashman.startup import exit_on_config_error, fail, refuse_memory_database

ROOT = Path(__file__).resolve().parent
DEV_TOKEN_LIFETIME_S = 24 * 3600

with exit_on_config_error():
    load_env_file(ROOT / ".env")


def build_app(env: Mapping[str, str]) -> Flask:
    """The API configured from ``env`` for development (the request's own URL stands in for
    an unset ``API_BASE_URL``); a bad setting stops the process with one line."""
    try:
        settings = Settings.from_env(env, is_development=True)
        refuse_memory_database(settings.database_url)
        return create_app(settings)
    except ConfigError as exc:
        fail(str(exc))


def print_dev_banner(
    base_url: str, token: str | None, audience: str, mint_options: str = ""
) -> None:
    """Say loudly what this is, then give ready-to-paste curl lines.

    ``token`` is a Bearer token for the curl lines, or None when the mode refuses Bearer
    (``AUTH_DPOP=required``: the DPoP part of the banner is then the one that works);
    ``mint_options`` are added to the mint command (``mint_options()``, and ``--dpop-key FILE``
    in that mode).
    """
    rule = "=" * 78
    print(f"{rule}\n{dev_issuer.WARNING}\n{rule}", file=sys.stderr, flush=True)
    lines = [dev_issuer.WARNING, f"Cashman API (development issuer) on {base_url}"]
    lines.append(f"  issuer {dev_issuer.DEV_ISSUER}  audience {audience}")
    if token is not None:
        scopes = " ".join(dev_issuer.DEFAULT_SCOPES)
        auth_header = f'"Authorization: Bearer {token}"'
        lines += [
            f'Token for sub "{dev_issuer.DEFAULT_SUB}" with scopes "{scopes}", valid 24 h:',
            "",
            f"TOKEN={token}",
            "",
            "Try it:",
            f"  curl -H {auth_header} {base_url}/secured/ping",
            f"  curl -H {auth_header} {base_url}/incomes",
        ]
    else:
        lines.append("AUTH_DPOP=required: only DPoP-bound tokens are accepted (see below).")
    lines += [
        "",
        "Mint tokens for other users, scopes and lifetimes:",
        "  .venv/bin/python -m auth.dev_issuer --sub alice "
        f"--scope read:transactions --expires-in 3600{mint_options}",
        "",
    ]
    print("\n".join(lines), flush=True)


def print_dpop_example(example: DPoPExample) -> None:
    """The DPoP part of the banner: a bound token, a curl line making a fresh proof, the
    token endpoint a browser app uses."""
    nonce_hint = (
        [
            "  (AUTH_DPOP_NONCE_SECRET is set: the first answer is 401 use_dpop_nonce; add",
            "   --nonce <its DPoP-Nonce> to the proof command)",
        ]
        if example.needs_nonce
        else []
    )
    print(
        "\n".join(
            [
                f"DPoP (RFC 9449): a token bound to the key in {example.key_path}, valid 24 h:",
                "",
                f"DPOP_TOKEN={example.token}",
                "",
                "Each request needs a fresh proof from that key (a proof is accepted once);",
                "run it from the project directory:",
                f"  {example.curl_line('/incomes')}",
                *nonce_hint,
                "",
                f"Token endpoint for browser apps (POST with a DPoP proof): {example.token_url}",
                "",
            ]
        ),
        flush=True,
    )


@dataclass(frozen=True)
class DPoPExample:
    """What the banner shows of DPoP: a token bound to the development client's key, and
    how to make proofs for it with ``python -m auth.dpop_proof``."""

    token: str
    key_path: str
    python: str
    htu_base: str
    base_url: str
    token_url: str
    needs_nonce: bool

    @classmethod
    def make(
        cls, server: DevIssuerServer, dpop: DPoPSettings, base_url: str, audience: str
    ) -> DPoPExample:
        """The example for the API at ``base_url``: the key is created on first use."""
        path = dev_issuer.dpop_key_file()
        jkt = load_key(path).jkt
        token = server.dev_issuer.mint(expires_in=DEV_TOKEN_LIFETIME_S, audience=audience, jkt=jkt)
        return cls(
            token=token,
            key_path=shown_path(path),
            python=shown_path(Path(sys.executable)),
            htu_base=(dpop.api_base_url or base_url).rstrip("/"),
            base_url=base_url,
            token_url=server.token_url,
            needs_nonce=dpop.auth_dpop_nonce_secret is not None,
        )

    def curl_line(self, path: str, method: str = "GET") -> str:
        """A curl line whose proof is made when the shell runs it (a proof is used once)."""
        quoted = [shlex.quote(part) for part in (self.python, self.key_path, self.htu_base + path)]
        proof = (
            f"$({quoted[0]} -m auth.dpop_proof --key {quoted[1]} --method {method} "
            f"--url {quoted[2]} --token {self.token})"
        )
        return (
            f'curl -H "Authorization: DPoP {self.token}" -H "DPoP: {proof}" {self.base_url}{path}'
        )


def mint_options(audience: str) -> str:
    """The mint command's ``--key-file`` and ``--audience``: this server's, shell-quoted.

    Always given: the shell that runs the printed line may hold another
    ``DEV_ISSUER_KEY_FILE`` or ``API_AUDIENCE`` than this one (or none), and the command
    would then sign with another key, or for another audience, tokens this server refuses.
    """
    key_file = shown_path(dev_issuer.issuer_key_file().resolve())
    options = ["--key-file", key_file, "--audience", audience]
    return "".join(f" {shlex.quote(option)}" for option in options)


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter lines)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def start_dev_issuer(host: str, env: dict[str, str]) -> tuple[DevIssuerServer, dict[str, str]]:
    """Serve the dev key's JWKS and token endpoint on loopback; returns the server and the
    env trusting it."""
    try:
        dev_issuer.require_loopback(host)
    except dev_issuer.DevIssuerError as exc:
        fail(f"--host: {exc}")
    try:
        origins = cors_origins_from_env(env)
    except ConfigError as exc:
        fail(str(exc))
    try:
        issuer = dev_issuer.DevIssuer.load()
    except (dev_issuer.DevIssuerError, OSError, ValueError) as exc:
        # a damaged, foreign or unreachable key file: one line, as `python -m auth.dev_issuer`
        fail(f"DEV_ISSUER_KEY_FILE: cannot use the development issuer's key ({type(exc).__name__})")
    jwks_host = "::1" if host.strip("[]") == "::1" else "127.0.0.1"
    # read as Settings reads it (stripped, blank = unset): a padded value would mint tokens
    # whose aud the API, which strips it, refuses
    audience = get_value(env, "API_AUDIENCE") or dev_issuer.DEV_AUDIENCE
    env = {**env, "API_AUDIENCE": audience}
    server = DevIssuerServer(
        issuer,
        audience=audience,
        host=jwks_host,
        cors_origins=origins,
        expires_in=DEV_TOKEN_LIFETIME_S,
    )
    return server, dev_issuer.environment(server, env)


def parse_port(text: str) -> int:
    """``--port``: a TCP port 1-65535, checked like ``PORT``; else one line and exit 2
    (0 or 99999 would bind some other port than the one the banner names)."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and 0 < int(digits) < 65536):
        fail("--port: must be a TCP port number (1-65535)")
    return int(digits)


def run_development(argv: Sequence[str] | None = None) -> None:
    """``python server.py``: the werkzeug server, with the dev issuer when no tenant is set."""
    parser = argparse.ArgumentParser(prog="python server.py", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", default=None, help="port 1-65535 (default: PORT, else 5000)")
    args = parser.parse_args(argv)
    cli_port = None if args.port is None else parse_port(args.port)
    host = args.host.strip("[]")
    env = dict(os.environ)
    issuer_server = None
    if not dev_issuer.has_tenant(env):
        issuer_server, env = start_dev_issuer(host, env)
    app = build_app(env)
    settings: Settings = app.config["CASHMAN_SETTINGS"]
    port = settings.port if cli_port is None else cli_port
    # before the banner: its curl lines would name a port another program answers on
    problem = listen_problem(Bind(host, port))
    if problem is not None:
        source = "PORT" if cli_port is None else "--port"
        fail(f"{source}: cannot listen on {Bind(host, port)} ({problem})")
    request_log.log_startup(settings.auth.issuers, settings.auth.api_audience)
    lifecycle.log_startup_warnings(settings)
    if issuer_server is not None:
        issuer = issuer_server.dev_issuer
        audience = env["API_AUDIENCE"]
        url_host = f"[{host}]" if ":" in host else host
        base_url = f"http://{url_host}:{port}"
        dpop = settings.auth.dpop
        options = mint_options(audience)
        example = None
        if dpop.is_enabled:  # before the banner: a key it cannot use stops everything
            try:
                example = DPoPExample.make(issuer_server, dpop, base_url, audience)
            except (OSError, ValueError) as exc:
                problem = f"cannot use the development DPoP key beside it ({type(exc).__name__})"
                fail(f"DEV_ISSUER_KEY_FILE: {problem}")
        # print only what the mode accepts: a Bearer line in required mode would answer 401
        if BEARER in dpop.schemes:
            token = issuer.mint(expires_in=DEV_TOKEN_LIFETIME_S, audience=audience)
            print_dev_banner(base_url, token, audience, options)
        else:
            key = shlex.quote(shown_path(dev_issuer.dpop_key_file()))
            print_dev_banner(base_url, None, audience, f"{options} --dpop-key {key}")
        if example is not None:
            print_dpop_example(example)
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
