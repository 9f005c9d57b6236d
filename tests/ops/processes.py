"""Real server processes for the ops and browser tests, on loopback only.

``python server.py`` and ``gunicorn server:app`` run as a user would start
them, with their output in files (a full pipe must never block a server),
every wait bounded in time, and every process stopped at the end.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 15.0

# every setting a developer's shell or .env might hold: tests decide each one
SETTINGS = (
    "AUTH0_DOMAIN",
    "AUTH0_ISSUER",
    "AUTH0_JWKS_URL",
    "API_AUDIENCE",
    "AUTH_ALGORITHMS",
    "AUTH_LEEWAY",
    "AUTH_STRICT_RFC9068",
    "AUTH_TOKEN_CACHE_SIZE",
    "JWKS_CACHE_TTL",
    "JWKS_MIN_REFRESH_INTERVAL",
    "JWKS_MAX_STALE",
    "DATABASE_URL",
    "CORS_ORIGINS",
    "PORT",
    "CASHMAN_DEV_ISSUER",
)
# gunicorn itself parses WEB_CONCURRENCY at import: these are removed, not blanked
GUNICORN_SETTINGS = (
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_LOGLEVEL",
    "GUNICORN_CMD_ARGS",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A hermetic environment: every setting blank (so ``.env`` cannot fill it) unless given."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS + GUNICORN_SETTINGS}
    env.update(dict.fromkeys(SETTINGS, ""))
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'cashman.db'}",
        DEV_ISSUER_KEY_FILE=str(tmp_path / "dev-issuer-key.pem"),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


@dataclass
class Server:
    """A started process with its output files."""

    popen: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path
    stopped: bool = field(default=False)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_exit(self, deadline_s: float = START_DEADLINE_S) -> int:
        """The exit status of a process expected to stop by itself."""
        try:
            return self.popen.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"still running after {deadline_s}s:\n{self.stderr}") from None

    def wait_http(self, url: str, deadline_s: float = START_DEADLINE_S) -> None:
        """Poll ``url`` until it answers 200, the process dies, or the deadline passes."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError(f"exited {self.popen.returncode}:\n{self.stderr}")
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{url} not up after {deadline_s}s:\n{self.stderr}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within the deadline."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_DEADLINE_S)
        self.stopped = True


def start(args: list[str], env: dict[str, str], tmp_path: Path, cwd: Path = ROOT) -> Server:
    """Start ``args`` with stdout/stderr in files under ``tmp_path``."""
    name = f"{Path(args[0]).name}-{time.monotonic_ns()}"
    out_path, err_path = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        popen = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
    return Server(popen, out_path, err_path)


def dev_server(tmp_path: Path, port: int, *extra: str, **env: str) -> Server:
    """``python server.py --port PORT`` (the README's ``make run``)."""
    return start(
        [PYTHON, "server.py", "--port", str(port), *extra], base_env(tmp_path, **env), tmp_path
    )


def gunicorn(tmp_path: Path, port: int, **env: str) -> Server:
    """``gunicorn server:app`` with the repository's gunicorn.conf.py, bound to loopback."""
    settings = {"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1", **env}
    return start([GUNICORN, "server:app"], base_env(tmp_path, **settings), tmp_path)


CURL_LINE = re.compile(r'curl -H "Authorization: Bearer ([^"]+)" (http://\S+)')


def curl_lines(stdout: str) -> list[tuple[str, str]]:
    """(token, url) of each ``curl`` line the development server printed."""
    return CURL_LINE.findall(stdout)


def listening_addresses(pid: int) -> list[str]:
    """Local addresses of the TCP sockets process ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                addresses.append(_decode_address(cols[1].split(":")[0]))
    return addresses


def _decode_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc prints each 32-bit word in host (little-endian) order
    words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
    return str(ipaddress.ip_address(b"".join(words)))
