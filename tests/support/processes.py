"""Real processes for tests, on loopback only: the one place that starts and stops them.

``python server.py``, ``python -m cashman.serve`` (granian) and ``gunicorn
server:app`` run as a user would start them, in their own process group (so
stopping them stops every worker), with their output in files (a full pipe
must never block a server). Every wait is bounded in time, every process is
stopped at the end, and the environment is cleaned first, so a developer's
shell or ``.env`` never changes what is tested.

``SERVERS`` names the two production servers; ``production()`` starts either
the same way, so a test of a server guarantee is parametrized over both.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 15.0
POLL_INTERVAL_S = 0.1
COMMAND_TIMEOUT_S = 60

# the settings the SPEC names
SPEC_SETTINGS = (
    "AUTH0_DOMAIN",
    "API_AUDIENCE",
    "AUTH0_ISSUER",
    "AUTH0_JWKS_URL",
    "AUTH_ALGORITHMS",
    "AUTH_LEEWAY",
    "AUTH_STRICT_RFC9068",
    "JWKS_CACHE_TTL",
    "JWKS_MIN_REFRESH_INTERVAL",
    "JWKS_MAX_STALE",
    "DATABASE_URL",
    "CORS_ORIGINS",
    "PORT",
    "API_BASE_URL",
    "AUTH_DPOP",
    "AUTH_DPOP_ALGORITHMS",
    "AUTH_DPOP_MAX_AGE",
    "AUTH_DPOP_NONCE_SECRET",
    "METRICS_BIND",
)
# the project's own further settings
PROJECT_SETTINGS = ("AUTH_TOKEN_CACHE_SIZE", "DEV_ISSUER_KEY_FILE", "CASHMAN_DEV_ISSUER")
# the production servers' settings (SPEC section 2), read by both entries
SERVER_SETTINGS = ("BIND", "WEB_CONCURRENCY", "WEB_THREADS")
# gunicorn.conf.py's own settings (the first three: aliases of SERVER_SETTINGS)
GUNICORN_SETTINGS = (
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_LOGLEVEL",
)
# read by the servers themselves, never by the project: removed like the rest, not documented
_SERVERS_OWN = ("GUNICORN_CMD_ARGS", "PROMETHEUS_MULTIPROC_DIR")
# blanking (not removing) these stops ``.env`` from filling them; the servers' are removed
_BLANKED = SPEC_SETTINGS + PROJECT_SETTINGS
# the production servers, as tests parametrize them
SERVERS = ("granian", "gunicorn")


class NotReady(RuntimeError):
    """A server exited, or did not answer in time; the message holds its output."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any setting of the project or of gunicorn."""
    removed = set(_BLANKED + SERVER_SETTINGS + GUNICORN_SETTINGS + _SERVERS_OWN)
    removed |= {name for name in os.environ if name.startswith("GRANIAN_")}
    env = {k: v for k, v in os.environ.items() if k not in removed}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def hermetic_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """``clean_env`` with every setting blank (so ``.env`` cannot fill it) unless given.

    The database and the development issuer's key live under ``tmp_path``.
    """
    settings = dict.fromkeys(_BLANKED, "")
    settings.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'cashman.db'}",
        DEV_ISSUER_KEY_FILE=str(tmp_path / "dev-issuer-key.pem"),
    )
    settings.update(overrides)
    return clean_env(**settings)


def run_command(
    args: Sequence[str],
    env: Mapping[str, str],
    cwd: Path = ROOT,
    timeout: float = COMMAND_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end (bounded in time); its status and text output, unchecked."""
    return subprocess.run(
        list(args),
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until_ready(
    popen: subprocess.Popen[bytes],
    url: str,
    output: Callable[[], str],
    deadline_s: float = START_DEADLINE_S,
) -> None:
    """Poll ``url`` until it answers 200; ``NotReady`` if the process dies or time runs out."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise NotReady(f"exited {popen.returncode}:\n{output()}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(POLL_INTERVAL_S)
    raise NotReady(f"{url} not up after {deadline_s}s:\n{output()}")


def kill_group(popen: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and its whole group (workers included): no shutdown code runs."""
    with suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGKILL)
    popen.wait(timeout=STOP_DEADLINE_S)


def stop_process(popen: subprocess.Popen[bytes], deadline_s: float = STOP_DEADLINE_S) -> None:
    """SIGTERM, then SIGKILL of the group past the deadline; stray workers are killed too."""
    if popen.poll() is None:
        popen.terminate()
        with suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=deadline_s)
    # a killed process frees its sockets and file locks at once
    kill_group(popen)


def child_pids(pid: int) -> list[int]:
    """The live children of ``pid`` (a gunicorn master's workers), read from ``/proc``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process went away while we looked
        # the fields after the command name, which may itself hold spaces and parentheses
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            pids.append(int(entry.name))
    return sorted(pids)


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(pid)


@dataclass
class Server:
    """A started process in its own process group, with its output files."""

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
        wait_until_ready(self.popen, url, lambda: self.stderr, deadline_s)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within the deadline."""
        stop_process(self.popen)
        self.stopped = True


def start(
    args: list[str],
    env: dict[str, str],
    tmp_path: Path,
    cwd: Path = ROOT,
    *,
    log_path: Path | None = None,
) -> Server:
    """Start ``args``, stdout and stderr in files under ``tmp_path`` (or both in ``log_path``)."""
    name = f"{Path(args[0]).name}-{time.monotonic_ns()}"
    out_path, err_path = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    if log_path is not None:
        out_path = err_path = log_path
    with out_path.open("ab") as out, err_path.open("ab") as err:
        popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Server(popen, out_path, err_path)


def dev_server(tmp_path: Path, port: int, *extra: str, **env: str) -> Server:
    """``python server.py --port PORT`` (the README's ``make run``)."""
    return start(
        [PYTHON, "server.py", "--port", str(port), *extra], hermetic_env(tmp_path, **env), tmp_path
    )


def gunicorn(tmp_path: Path, port: int, **env: str) -> Server:
    """``gunicorn server:app`` with the repository's gunicorn.conf.py, bound to loopback."""
    settings = {"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1", **env}
    return start([GUNICORN, "server:app"], hermetic_env(tmp_path, **settings), tmp_path)


def server_command(server: str) -> list[str]:
    """How a user starts production server ``server`` (one of ``SERVERS``)."""
    commands = {"granian": [PYTHON, "-m", "cashman.serve"], "gunicorn": [GUNICORN, "server:app"]}
    return commands[server]


def production(
    server: str,
    tmp_path: Path,
    port: int,
    *,
    workers: int = 1,
    hermetic: bool = True,
    log_path: Path | None = None,
    **env: str,
) -> Server:
    """Production server ``server`` on 127.0.0.1:``port`` through BIND and WEB_CONCURRENCY.

    ``hermetic`` blanks every setting not given (so ``.env`` cannot fill it)
    and puts the SQLite database under ``tmp_path``; otherwise only the
    settings of the developer's shell are removed.
    """
    settings = {"BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers), **env}
    full_env = hermetic_env(tmp_path, **settings) if hermetic else clean_env(**settings)
    return start(server_command(server), full_env, tmp_path, log_path=log_path)


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
