"""The Dockerfile's HEALTHCHECK probes where the server listens (BIND, else PORT, else 5000, as
the server does)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cashman.server_config import DEFAULT_PORT
from tests.support.processes import PYTHON, ROOT, clean_env, free_port, run_command


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK ``CMD`` of the Dockerfile, as Docker would exec it."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("HEALTHCHECK")]
    command = json.loads(line.split(" CMD ", 1)[1])
    assert command[0] == "python"
    return [PYTHON, *command[1:]]


class _Ping(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/ping" else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def ping_port() -> Iterator[int]:
    """A loopback server answering ``/ping``; its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ping)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("bind", "port"),
    [
        ("0.0.0.0:{port}", "{closed}"),
        ("127.0.0.1:{port}", "{closed}"),
        ("localhost:{port}", ""),
        ("", "{port}"),
        ("  ", "{port}"),
    ],
)
def test_healthcheck_follows_the_bind(ping_port, bind, port):
    values = {"port": ping_port, "closed": free_port()}
    env = clean_env(BIND=bind.format(**values), PORT=port.format(**values))
    done = run_command(healthcheck_command(), env, timeout=30)
    assert done.returncode == 0, done.stderr


def test_healthcheck_without_bind_or_port_probes_the_servers_default():
    command = healthcheck_command()
    assert f"'{DEFAULT_PORT}'" in command[-1]


def test_healthcheck_fails_when_nothing_listens(ping_port):
    env = clean_env(BIND=f"0.0.0.0:{free_port()}", PORT=str(ping_port))
    done = run_command(healthcheck_command(), env, timeout=30)
    assert done.returncode != 0


def test_image_runs_the_production_entry_as_a_non_root_user():
    text = (ROOT / "Dockerfile").read_text()
    final_stage = text.split("\nFROM ")[-1]
    assert 'CMD ["python", "-m", "cashman.serve"]' in final_stage
    assert "USER 10001:10001" in final_stage
