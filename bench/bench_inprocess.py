"""Per-request CPU of the app in process (straight WSGI calls), and where it goes.

Why: wrk figures include gunicorn and the socket layer; this harness isolates what the
application itself spends per request, without HTTP noise, so a change on the request path
(token check, JSON, logging, storage) shows up in microseconds. Variants are interleaved
in rounds (A B C A B C ...) and timed with the process CPU clock; ``--profile`` runs
cProfile over one variant and prints the functions that cost the most, which is how the
hot spots named in BENCHMARKS.md were found.

Cashman is wrapped as a production worker wraps it (``BodyBuffer``). The bare Flask +
python-jose app (``bench/apps/flask_jose.py``) runs in the same process as the ``bare_*``
variants, so "Cashman's /ping over the bare app's" is a same-round ratio too.

The JWKS comes from a loopback issuer thread, as in production, never from a mock.

    python bench/bench_inprocess.py
    python bench/bench_inprocess.py --only ping,bare_ping,incomes_50
    python bench/bench_inprocess.py --profile secured_distinct
    python bench/bench_inprocess.py --quick
    python bench/bench_inprocess.py --metrics   # adds ping_metrics: /ping with METRICS_BIND
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import os
import pstats
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stderr
from pathlib import Path

import harness
from harness import BENCH, READ, SEED_ROWS, WRITE
from harness.wsgi import respond, worker_app
from werkzeug.test import EnvironBuilder


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny, no speed asserted")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--requests", type=int, default=2000, help="requests per variant per round")
    p.add_argument("--profile", default="", help="variant to profile with cProfile instead")
    p.add_argument("--only", default="", help="comma-separated variants to time (default: all)")
    p.add_argument("--top", type=int, default=25, help="rows of the profile to print")
    p.add_argument(
        "--metrics", action="store_true", help="also /ping of an app counting Prometheus metrics"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.requests = 1, 50
    return args


def build(tmp: Path, issuer: str, metrics: bool = False):
    """The app as a production worker builds it, from an environment like production's;
    with ``metrics``, with ``METRICS_BIND`` set (files in ``tmp``)."""
    env = {
        "AUTH0_ISSUER": issuer,
        "API_AUDIENCE": harness.AUDIENCE,
        "DATABASE_URL": f"sqlite:///{tmp / ('metrics.db' if metrics else 'bench.db')}",
    }
    if metrics:
        # what the production entry sets before any worker imports prometheus_client
        (tmp / "metrics").mkdir(exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "metrics")
        env["METRICS_BIND"] = "127.0.0.1:9100"  # checked, never bound here
    return worker_app(env)


def build_bare(issuer: str):
    """The bare Flask + python-jose app, which reads its settings at import."""
    os.environ["AUTH0_ISSUER"] = issuer
    os.environ["API_AUDIENCE"] = harness.AUDIENCE
    spec = importlib.util.spec_from_file_location("flask_jose", BENCH / "apps" / "flask_jose.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def wsgi_call(app, method: str, path: str, headers=None, json_body=None, expect=200):
    """A callable doing one request straight through the WSGI interface.

    The environ is built once by werkzeug and copied per call, so the figure is the app's
    own cost (what gunicorn calls), not the test client's request building.
    """
    builder = EnvironBuilder(path=path, method=method, headers=headers, json=json_body)
    base = builder.get_environ()
    builder.close()
    body = json.dumps(json_body).encode() if json_body is not None else b""

    def call() -> None:
        status = respond(app, base, body)
        if not status.startswith(str(expect)):
            raise SystemExit(f"{method} {path}: {status}")

    return call


def variants(app, bare, kit, pool_size: int) -> dict[str, Callable[[], object]]:
    """name -> a callable doing one request (and checking it succeeded)."""
    same = {"Authorization": "Bearer " + harness.mint(kit, "bench|same", [READ])}
    owner = harness.mint(kit, "bench|reader", [READ, WRITE])
    reader = {"Authorization": f"Bearer {owner}"}
    client = app.test_client()
    has_incomes = True
    for i in range(SEED_ROWS):
        r = client.post(
            "/incomes",
            json={"description": f"bench income {i}", "amount": i + 1.25},
            headers=reader,
        )
        if r.status_code in (404, 405):
            has_incomes = False  # the transactions API is not there yet: skip its variant
            break
        assert r.status_code == 201, r.get_data(as_text=True)
    pool = [
        wsgi_call(app, "GET", "/secured/ping", {"Authorization": f"Bearer {t}"})
        for t in harness.mint_distinct(kit, pool_size, [READ])
    ]
    cursor = iter(range(1 << 62))

    def distinct() -> None:
        pool[next(cursor) % len(pool)]()

    calls = {
        "ping": wsgi_call(app, "GET", "/ping"),
        "bare_ping": wsgi_call(bare, "GET", "/ping"),
        "secured_same": wsgi_call(app, "GET", "/secured/ping", same),
        "bare_secured_same": wsgi_call(bare, "GET", "/secured/ping", same),
        "secured_distinct": distinct,
    }
    if has_incomes:
        calls["incomes_50"] = wsgi_call(app, "GET", "/incomes?limit=50", reader)
        calls["post_income"] = wsgi_call(
            app, "POST", "/incomes", reader, {"description": "bench", "amount": 1.5}, 201
        )
    return calls


def measure(calls: dict[str, Callable[[], object]], rounds: int, n: int) -> dict[str, list[float]]:
    """Rounds of interleaved variants; CPU microseconds per request for each run."""
    out: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            t0 = time.process_time()
            for _ in range(n):
                call()
            out[name].append((time.process_time() - t0) / n * 1e6)
    return out


def profile(call: Callable[[], object], n: int, top: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        call()
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from auth import AuthSettings

    cache = int(AuthSettings.__dataclass_fields__["token_cache_size"].default)
    # a cyclic walk over more tokens than an LRU holds never hits it
    pool_size = 64 if args.quick else 2 * cache
    with tempfile.TemporaryDirectory(prefix="cashman-bench-") as tmp_name:
        key_holder = harness.make_kit("http://127.0.0.1/")
        with harness.JWKSServer(key_holder.jwks()) as jwks:
            kit = harness.make_kit(jwks.issuer, key=key_holder.key)
            app = build(Path(tmp_name), jwks.issuer)
            bare = build_bare(jwks.issuer)
            counting = build(Path(tmp_name), jwks.issuer, metrics=True) if args.metrics else None
            # the request log is part of the cost: written to a file, as gunicorn's is
            with open(Path(tmp_name) / "requests.log", "w") as log, redirect_stderr(log):
                calls = variants(app, bare, kit, pool_size)
                if counting is not None:
                    calls["ping_metrics"] = wsgi_call(counting, "GET", "/ping")
                if args.only:
                    wanted = ["ping", *(n for n in args.only.split(",") if n != "ping")]
                    calls = {name: calls[name] for name in wanted}
                elif args.profile:
                    calls = {args.profile: calls[args.profile]}
                for call in calls.values():  # warm-up: lazy imports, first JWKS fetch
                    for _ in range(min(args.requests, 200)):
                        call()
                if args.profile:
                    report = profile(calls[args.profile], args.requests, args.top)
                else:
                    runs = measure(calls, args.rounds, args.requests)
    if args.profile:
        print(report)
        return 0
    med = {name: harness.median(v) for name, v in runs.items()}
    print(f"machine: {harness.machine()}")
    print(f"in-process, {args.rounds} rounds x {args.requests} requests, process CPU time")
    for name, us in med.items():
        lo, hi = min(runs[name]), max(runs[name])
        ratios = harness.paired_ratios(runs[name], runs["ping"])
        line = (
            f"  {name:<18} {us:8.1f} us CPU/req ({lo:.1f}-{hi:.1f})"
            f"   x{harness.median(ratios):.2f} of ping ({min(ratios):.2f}-{max(ratios):.2f})"
        )
        if name == "ping" and "bare_ping" in runs:
            vs = harness.paired_ratios(runs["ping"], runs["bare_ping"])
            line += f"   x{harness.median(vs):.2f} of bare_ping ({min(vs):.2f}-{max(vs):.2f})"
        print(line)
    harness.save_results(
        "inprocess-quick" if args.quick else "inprocess",
        {"machine": harness.machine(), "args": vars(args), "runs_us": runs, "medians_us": med},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
