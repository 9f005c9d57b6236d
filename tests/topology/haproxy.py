"""HAProxy from the repository's ``deploy/haproxy.cfg``, with loopback addresses.

The committed file reads every address as ``"${VARIABLE-default}"``; this
starts ``haproxy -db -f deploy/haproxy.cfg`` with those variables pointing at
the run's instances, and reads HAProxy's own view of them from its stats
listener (``/stats;csv``): a rolling restart waits until HAProxy, not just the
test, sees a restarted instance as up.
"""

from __future__ import annotations

import csv
import io
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from tests.support.processes import ROOT, clean_env, free_port, kill_group, stop_process
from tests.topology.pgbouncer import require_program

HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
BACKEND = "instances"
START_DEADLINE_S = 20.0
POLL_S = 0.1


class HAProxy:
    """``haproxy`` in front of ``servers`` (``host:port`` of api1, api2, api3)."""

    def __init__(self, workdir: Path, servers: Sequence[str]) -> None:
        self.program = require_program("haproxy", "haproxy")
        self.port = free_port()
        self.stats_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "haproxy.log"
        self.servers = list(servers)
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            "CASHMAN_LISTEN": f"127.0.0.1:{self.port}",
            "HAPROXY_STATS": f"127.0.0.1:{self.stats_port}",
            **{f"CASHMAN_API{i}": address for i, address in enumerate(self.servers, 1)},
        }

    def start(self) -> HAProxy:
        """Check the configuration, start HAProxy, wait until its stats answer."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        check = subprocess.run(
            [self.program, "-c", "-q", "-f", str(HAPROXY_CFG)],
            env=clean_env(**self.env),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if check.returncode != 0:
            raise RuntimeError(f"haproxy -c refused deploy/haproxy.cfg:\n{check.stderr}")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.program, "-db", "-f", str(HAPROXY_CFG)],
                env=clean_env(**self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited {self.proc.returncode}:\n{self.output()}")
            try:
                self.server_states()
                return self
            except requests.RequestException:
                time.sleep(POLL_S)
        raise RuntimeError(f"haproxy not up after {START_DEADLINE_S}s:\n{self.output()}")

    def server_states(self) -> dict[str, str]:
        """HAProxy's status of each instance: ``UP``, ``DOWN``, ``MAINT``, ``UP 1/2``..."""
        resp = requests.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5)
        resp.raise_for_status()
        rows = csv.DictReader(io.StringIO(resp.text.lstrip("# ")))
        return {
            row["svname"]: row["status"]
            for row in rows
            if row["pxname"] == BACKEND and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_state(self, server: str, state: str, deadline_s: float = 30.0) -> float:
        """Seconds until HAProxy reports ``server`` in ``state``; else ``TimeoutError``."""
        start = time.monotonic()
        while time.monotonic() - start < deadline_s:
            if self.server_states().get(server) == state:
                return time.monotonic() - start
            time.sleep(POLL_S)
        raise TimeoutError(f"{server} not {state} after {deadline_s}s: {self.server_states()}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None

    def output(self) -> str:
        """The last few KiB of HAProxy's log (one line per request: path only, no query)."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def log(self) -> str:
        """HAProxy's whole log."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
