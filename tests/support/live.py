"""Real servers for tests: gunicorn on a free loopback port, and a JWKS over HTTP.

A real server process cannot see the ``responses`` mock, so ``LiveIssuer``
serves an ``AuthKit``'s key set from a tiny ``http.server`` thread on
127.0.0.1 (plain ``http`` is allowed for loopback issuers). ``LiveServer``
runs ``gunicorn server:app`` with the project's ``gunicorn.conf.py`` in its
own process group, so a test can SIGKILL the master and its workers at once.
Every wait is bounded in time; traffic only ever goes to loopback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from auth.testing import AuthKit

ROOT = Path(__file__).resolve().parents[2]
READY_DEADLINE_S = 30.0
STOP_DEADLINE_S = 10.0
POLL_INTERVAL_S = 0.05

# settings a developer's shell might hold; a live server decides each one itself
_INHERITED_SETTINGS = (
    "AUTH0_DOMAIN",
    "AUTH0_ISSUER",
    "AUTH0_JWKS_URL",
    "API_AUDIENCE",
    "AUTH_ALGORITHMS",
    "AUTH_LEEWAY",
    "AUTH_STRICT_RFC9068",
    "JWKS_CACHE_TTL",
    "JWKS_MIN_REFRESH_INTERVAL",
    "JWKS_MAX_STALE",
    "DATABASE_URL",
    "CORS_ORIGINS",
    "PORT",
    "CASHMAN_DEV_ISSUER",
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveIssuer:
    """An ``AuthKit`` whose issuer is ``http://127.0.0.1:<port>/``, JWKS served for real."""

    def __init__(self) -> None:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/.well-known/jwks.json":
                    self.send_error(404)
                    return
                body = json.dumps(issuer.kit.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test output is not the place for access logs."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.kit = AuthKit(issuer=f"http://127.0.0.1:{self.port}/")
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        """Settings that make a server trust this issuer."""
        return self.kit.env()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=STOP_DEADLINE_S)


@contextmanager
def live_issuer() -> Iterator[LiveIssuer]:
    """A ``LiveIssuer`` for the duration of the block."""
    issuer = LiveIssuer()
    try:
        yield issuer
    finally:
        issuer.close()


class LiveServer:
    """``gunicorn server:app`` on 127.0.0.1:<free port>, output captured in a file."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {k: v for k, v in os.environ.items() if k not in _INHERITED_SETTINGS}
        full_env.update(
            {
                "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                "GUNICORN_WORKERS": str(workers),
                "PYTHONUNBUFFERED": "1",
                **env,
            }
        )
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--no-control-socket", "server:app"],
            cwd=ROOT,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, deadline_s: float = READY_DEADLINE_S) -> None:
        """Poll ``/ping`` until it answers 200; fail with the server's output otherwise."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.output()}")
            try:
                if requests.get(f"{self.url}/ping", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(POLL_INTERVAL_S)
        raise RuntimeError(f"gunicorn not ready after {deadline_s} s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: no shutdown code runs."""
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=STOP_DEADLINE_S)
        self._log.close()

    def stop(self) -> None:
        """Graceful stop (SIGTERM to the master), escalating to SIGKILL past the deadline."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=STOP_DEADLINE_S)
        # stray workers, if any (a killed process frees its sockets and file locks at once)
        self._signal_group(signal.SIGKILL)
        if not self._log.closed:
            self._log.close()

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def _signal_group(self, sig: signal.Signals) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)


@contextmanager
def live_server(
    env: Mapping[str, str], log_path: Path, *, workers: int = 2
) -> Iterator[LiveServer]:
    """A ready ``LiveServer``, stopped at the end of the block whatever happens."""
    server = LiveServer(env, log_path, workers=workers)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
