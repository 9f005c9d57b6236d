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

from tests.support.processes import ROOT, clean_env, free_port
from tests.topology.daemon import POLL_S, Daemon, require_program

HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
BACKEND = "instances"


class HAProxy(Daemon):
    """``haproxy`` in front of ``servers`` (``host:port`` of api1, api2, api3)."""

    name = "haproxy"

    def __init__(self, workdir: Path, servers: Sequence[str]) -> None:
        """``workdir``: where its log goes; ``servers``: the instances, in order."""
        super().__init__(workdir / "haproxy.log")
        self.program = require_program("haproxy", "haproxy")
        self.port = free_port()
        self.stats_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.servers = list(servers)
        self.env = {
            "CASHMAN_LISTEN": f"127.0.0.1:{self.port}",
            "HAPROXY_STATS": f"127.0.0.1:{self.stats_port}",
            **{f"CASHMAN_API{i}": address for i, address in enumerate(self.servers, 1)},
        }

    def start(self) -> HAProxy:
        """Check the configuration, start HAProxy, wait until its stats answer."""
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
        self.spawn([self.program, "-db", "-f", str(HAPROXY_CFG)], env=clean_env(**self.env))
        self.wait_ready(self.server_states, (requests.RequestException,))
        return self

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
