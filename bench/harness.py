"""Shared benchmark machinery, public tools only.

Why it exists: every figure in BENCHMARKS.md compares variants measured side by side in
one run, on one gunicorn server, so the noise of a shared machine hits them alike. This
module holds the pieces the scripts share: a loopback JWKS server that counts its
fetches, a gunicorn launcher (``gunicorn -c gunicorn.conf.py server:app``, bind forced to
127.0.0.1), server CPU time read from ``/proc/<pid>/stat`` (master + workers), wrk runs
through ``wrk/requests.lua``, token files minted with ``auth.testing.AuthKit``, medians.

Importing it puts the project root on ``sys.path`` so scripts run as ``python bench/x.py``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
LUA = BENCH / "wrk" / "requests.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
AUDIENCE = "https://cashman.bench/api"
READ = "read:transactions"
WRITE = "write:transactions"
SEED_ROWS = 60  # incomes of the reading user: a full page of 50 and a next link
JWKS_PATH = "/.well-known/jwks.json"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def median(values: Sequence[float]) -> float:
    """Median of ``values`` (the figure we report: robust to one noisy run)."""
    return statistics.median(values)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> dict[str, str]:
    """The machine facts BENCHMARKS.md states (no paths, no host names)."""
    model = "unknown"
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
    }


# --- JWKS served on loopback --------------------------------------------------------------


class JWKSServer:
    """Serves one JWKS on 127.0.0.1 from a thread and counts the fetches.

    The server under test is pointed at it with ``AUTH0_ISSUER=http://127.0.0.1:<port>/``
    (plain http is allowed for loopback issuers), so every fetch a worker makes is counted
    here: the JWKS figure is that count, not a guess.
    """

    def __init__(self, jwks: Mapping[str, object]) -> None:
        self.body = json.dumps(jwks).encode()
        self.fetches = 0
        self.fetch_times: list[float] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                with owner._lock:
                    owner.fetches += 1
                    owner.fetch_times.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a line per fetch would only add noise to the bench output

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.issuer = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> JWKSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# --- tokens ---------------------------------------------------------------------------------


TOKEN_LIFETIME_S = 4 * 3600  # outlives the longest run: an expired token would be a 401


def make_kit(issuer: str, key: object = None):  # -> auth.testing.AuthKit
    """An AuthKit whose tokens name ``issuer`` and the bench audience (``key``: reuse one)."""
    from auth.testing import AuthKit, generate_rsa_key

    return AuthKit(issuer=issuer, audience=AUDIENCE, key=key or generate_rsa_key())


def mint(kit, sub: str, scopes: Sequence[str], jti: str = "") -> str:
    """One bench token, valid for the whole run."""
    claims = {"jti": jti} if jti else None
    return kit.mint(sub=sub, scopes=scopes, claims=claims, expires_in=TOKEN_LIFETIME_S)


def write_tokens(path: Path, tokens: Sequence[str]) -> Path:
    """One token a line: the file wrk/requests.lua rotates through."""
    path.write_text("".join(t + "\n" for t in tokens), encoding="ascii")
    return path


def mint_distinct(kit, n: int, scopes: Sequence[str], sub: str = "bench|distinct") -> list[str]:
    """``n`` tokens that differ in ``jti`` (same user): each is a cold verification."""
    return [mint(kit, sub, scopes, jti=f"bench-{i}") for i in range(n)]


# --- server process accounting -----------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        text = f.read()
    # fields after the command name, which may itself hold spaces and parentheses
    return text.rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid`` (the gunicorn workers of a master)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry))[1]) == pid:
                kids.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue  # the process went away while we looked
    return sorted(kids)


def cpu_seconds(master: int) -> float:
    """user + sys seconds of the master, its live workers, and workers it has reaped.

    Fields 14/15 are the process's own utime/stime (all threads), 16/17 the reaped
    children's; a worker that restarts mid-run is therefore still counted once.
    """
    fields = _stat_fields(master)
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for kid in children_of(master):
        try:
            kf = _stat_fields(kid)
        except OSError:
            continue
        ticks += int(kf[11]) + int(kf[12])
    return ticks / CLK_TCK


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (from /proc/<pid>/statm)."""
    with open(f"/proc/{pid}/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * PAGE_SIZE / 2**20


@dataclass
class Gunicorn:
    """``gunicorn -c gunicorn.conf.py server:app`` on 127.0.0.1, as production runs it.

    Only the bind, the worker count and the thread count are set on the command line
    (command-line settings override the config file); everything else is the project's
    config file, the same for every variant compared.
    """

    env: Mapping[str, str]
    log_path: Path
    workers: int = 2
    threads: int = 4
    worker_class: str = "gthread"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        exe = Path(sys.executable).with_name("gunicorn")
        cmd = [str(exe) if exe.exists() else shutil.which("gunicorn") or "gunicorn"]
        if (ROOT / "gunicorn.conf.py").exists():
            cmd += ["-c", "gunicorn.conf.py"]
        cmd += ["server:app", "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]
        cmd += ["--worker-class", self.worker_class, "--threads", str(self.threads)]
        return cmd

    def start(self, timeout_s: float = 60.0) -> Gunicorn:
        env = {**os.environ, **self.env}
        env.pop("PORT", None)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            self.command(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}): {self.log_tail()}")
            if len(children_of(self.proc.pid)) >= self.workers and self._pings():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /ping in {timeout_s}s: {self.log_tail()}")

    def _pings(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return s.recv(64).split(b"\r\n", 1)[0].endswith(b" 200 OK")
        except OSError:
            return False

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def workers_pids(self) -> list[int]:
        return children_of(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- wrk ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """One request shape for wrk: method, path, optional token file and JSON body file."""

    name: str
    method: str = "GET"
    path: str = "/ping"
    tokens: Path | None = None
    body: Path | None = None


@dataclass(frozen=True)
class Sample:
    """One wrk run against the server, with the server CPU it cost."""

    load: str
    requests: int
    seconds: float
    cpu_s: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6


def require_wrk() -> str:
    """wrk's path, or a clear stop (Debian package ``wrk``)."""
    path = shutil.which("wrk")
    if path is None:
        sys.exit("bench: wrk is not installed (Debian: apt-get install -y wrk)")
    return path


def run_wrk(
    server: Gunicorn,
    load: Load,
    seconds: float,
    connections: int = 8,
    threads: int = 2,
    offset: int = 0,
) -> Sample:
    """Run wrk for ``seconds`` and read the server's CPU before and after.

    Any non-2xx answer, socket error or timeout stops the bench: a figure made of 401s
    or refused connections would measure the wrong thing.
    """
    cmd = [
        require_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        server.base_url,
        "--",
        load.method,
        load.path,
        str(load.tokens) if load.tokens else "-",
        str(load.body) if load.body else "-",
        str(threads),
        str(offset // threads),
    ]
    cpu0 = server.cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    cpu1 = server.cpu()
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}{out.stderr}")
    r = json.loads(line.removeprefix("BENCH_JSON "))
    errors = {k: v for k, v in r.items() if k.startswith("errors_") and v}
    if errors or r["requests"] == 0:
        raise RuntimeError(f"{load.name}: wrk saw errors {errors}; server log: {server.log_tail()}")
    return Sample(
        load=load.name,
        requests=r["requests"],
        seconds=r["duration_us"] / 1e6,
        cpu_s=cpu1 - cpu0,
        p50_ms=r["p50_us"] / 1e3,
        p99_ms=r["p99_us"] / 1e3,
    )


def interleave(
    server: Gunicorn,
    loads: Sequence[Load],
    rounds: int,
    seconds: float,
    connections: int = 8,
    log: bool = True,
) -> dict[str, list[Sample]]:
    """Rounds of A B C A B C ...: every variant sees the same slice of machine noise."""
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


def ratio_medians(
    samples: Mapping[str, list[Sample]], num: str, den: str, metric: str = "cpu"
) -> float:
    """Median over rounds of the per-round ratio num/den (same round, same noise)."""
    ratios = []
    for a, b in zip(samples[num], samples[den], strict=True):
        if metric == "cpu":
            ratios.append(a.cpu_us_per_request / b.cpu_us_per_request)
        else:
            ratios.append(b.rps / a.rps)
    return median(ratios)


def save_results(name: str, data: Mapping[str, object]) -> Path:
    """Write the run's raw numbers to bench/results/<name>.json (not committed)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


@contextmanager
def postgres_database(base_url: str, name: str) -> Iterator[str]:
    """A dedicated PostgreSQL database for one bench, dropped afterwards.

    ``base_url`` is an SQLAlchemy URL (``postgresql+psycopg://user@host:port/db``); the
    bench database sits beside ``db`` and is yours alone, so nothing else is touched.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
