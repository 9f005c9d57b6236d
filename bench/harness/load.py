"""wrk runs on loopback, each paired with the server CPU it cost.

A run reads the server tree's CPU (``proc.cpu_seconds``) just before wrk starts and just
after it exits, and divides by the requests wrk counted: server CPU per request, the
figure that stays meaningful on a machine whose other load moves requests per second.
Requests are shaped by ``wrk/requests.lua`` (tokens rotated per request, bodies built
once). Any non-2xx answer, socket error or timeout stops the bench: a figure made of
401s or refused connections would measure the wrong thing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .servers import BENCH

LUA = BENCH / "wrk" / "requests.lua"
WRK_TIMEOUT = "10s"  # a request slower than this counts as a wrk timeout error


class Measured(Protocol):
    """What a wrk run needs from a server: where it listens and what it has cost."""

    @property
    def base_url(self) -> str: ...

    def cpu(self) -> float: ...

    def log_tail(self, n: int = 2000) -> str: ...


@dataclass(frozen=True)
class Load:
    """One request shape: method, path, optional token file and JSON body file."""

    name: str
    method: str = "GET"
    path: str = "/ping"
    tokens: Path | None = None
    body: Path | None = None

    def first_token(self) -> str:
        """The first token of the token file ("" for a load without tokens)."""
        if self.tokens is None:
            return ""
        return self.tokens.read_text(encoding="ascii").split("\n", 1)[0]


@dataclass(frozen=True)
class Sample:
    """One wrk run against one server, with the server CPU it cost."""

    load: str
    requests: int
    seconds: float
    cpu_s: float
    p50_ms: float
    p99_ms: float
    acknowledged_ids: tuple[int, ...] = ()

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6

    def as_dict(self) -> dict[str, float]:
        """The numbers a results file keeps (ids are checked, not stored)."""
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "cpu_s": self.cpu_s,
            "cpu_us_per_request": self.cpu_us_per_request,
            "rps": self.rps,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
        }


def require_wrk() -> str:
    """wrk's path, or a clear stop (Debian package ``wrk``)."""
    path = shutil.which("wrk")
    if path is None:
        sys.exit("bench: wrk is not installed (Debian: apt-get install -y wrk)")
    return path


def run_wrk(
    server: Measured,
    load: Load,
    seconds: float,
    connections: int = 8,
    threads: int = 2,
    offset: int = 0,
    record_ids: bool = False,
    rate: float | None = None,
) -> Sample:
    """Run wrk for ``seconds`` (whole seconds, at least 1) and read the server's CPU around it.

    ``record_ids``: also collect the ``id`` of every 201 answer (``acknowledged_ids``), so
    a write bench can check each acknowledged row is stored. ``rate``: requests per
    second on a fixed schedule (``wrk/requests.lua``), at most ``connections`` in flight;
    None: each connection sends again as soon as it is answered (the server saturated).
    """
    cmd = [
        require_wrk(),
        *(f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"),
        *("--timeout", WRK_TIMEOUT, "-s", str(LUA), server.base_url, "--"),
        load.method,
        load.path,
        str(load.tokens) if load.tokens else "-",
        str(load.body) if load.body else "-",
        str(threads),
        str(offset // threads),
        "record-ids" if record_ids else "-",
        *([f"{rate:.3f}"] if rate is not None else []),
    ]
    cpu0 = server.cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    cpu1 = server.cpu()
    lines = out.stdout.splitlines()
    line = next((x for x in lines if x.startswith("BENCH_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-2000:]}{out.stderr}")
    r = json.loads(line.removeprefix("BENCH_JSON "))
    errors = {k: v for k, v in r.items() if k.startswith("errors_") and v}
    if errors or r["requests"] == 0:
        raise RuntimeError(f"{load.name}: wrk saw errors {errors}; server log: {server.log_tail()}")
    ids: tuple[int, ...] = ()
    if record_ids:
        ids = tuple(
            int(x)
            for ln in lines
            if ln.startswith("BENCH_IDS ")
            for x in ln.removeprefix("BENCH_IDS ").split(",")
            if x
        )
    return Sample(
        load=load.name,
        requests=r["requests"],
        seconds=r["duration_us"] / 1e6,
        cpu_s=cpu1 - cpu0,
        p50_ms=r["p50_us"] / 1e3,
        p99_ms=r["p99_us"] / 1e3,
        acknowledged_ids=ids,
    )


def interleave(
    server: Measured,
    loads: list[Load],
    rounds: int,
    seconds: float,
    connections: int = 8,
    log: bool = True,
) -> dict[str, list[Sample]]:
    """Rounds of A B C A B C ... on one server: every variant sees the same machine noise."""
    samples: dict[str, list[Sample]] = {ld.name: [] for ld in loads}
    sent = dict.fromkeys(samples, 0)
    for r in range(rounds):
        for ld in loads:
            s = run_wrk(server, ld, seconds, connections, offset=sent[ld.name])
            sent[ld.name] += s.requests
            samples[ld.name].append(s)
            if log:
                print(
                    f"  round {r + 1}/{rounds} {ld.name:<22} {s.rps:8.0f} req/s "
                    f"{s.cpu_us_per_request:7.1f} us CPU/req  p50 {s.p50_ms:.2f} ms",
                    flush=True,
                )
    return samples
