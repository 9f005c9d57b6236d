"""Bearer and DPoP requests through the app in process, on one thread and on two.

Why: through HTTP a DPoP request costs more over a Bearer one (``bench_dpop.py`` part 1)
than its parts add up to in process (part 2). A production worker runs the app on
several threads (``--threads``); they share one interpreter lock, and every call that
lets it go (the ES256 check in ``cryptography``, each SQLite step, the writer lock's
``flock``, a PostgreSQL round trip, a log line written) hands it to a waiting thread,
usually on the other core, and takes it back later. A Bearer request lets it go once or
twice; a DPoP request five or six times. This script measures that effect alone (it
turned out not to be what makes the HTTP gap: with one Python thread per worker the
ratio through HTTP is the same, BENCHMARKS.md section 7c), with no HTTP server, wrk or
socket: the app as a production worker builds it
(``lifecycle.worker_app``'s ``BodyBuffer``), called straight through WSGI by T threads
at once, each with its own requests.

Variants, interleaved in rounds, CPU of this process per request (``getrusage``: user +
system, every thread) and context switches per request:

  1 thread;
  2 threads, free to run on any core (as a worker runs);
  2 threads, both pinned to one core (``os.sched_setaffinity``): the lock still changes
  hands, but the interpreter's memory stays in one core's caches.

Each with the Bearer request (one repeated token: the verified-token cache path) and
the DPoP request (one repeated bound token, a fresh proof per request, made before the
timed loop), on ``/secured/ping``. SQLite (a temporary file) by default; with
``--postgres-url``, a throw-away database on that server instead.

    python bench/bench_threads.py
    python bench/bench_threads.py --postgres-url postgresql+psycopg://USER@127.0.0.1:5432/DB
    python bench/bench_threads.py --quick      # smoke: seconds, no speed asserted
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
from collections.abc import Callable
from contextlib import ExitStack, redirect_stderr
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import harness
from harness.wsgi import respond, worker_app
from werkzeug.test import EnvironBuilder

from auth.testing import DPoPKey

BASE_URL = "https://api.example.com"
PATH = "/secured/ping"
# name -> (threads, pinned to one core)
CONFIGS = {"1 thread": (1, False), "2 threads": (2, False), "2 threads, one core": (2, True)}


def build_app(issuer: str, jwks_url: str, database_url: str) -> Any:
    """The app as a production worker has it, DPoP allowed, for ``BASE_URL``."""
    return worker_app(
        {
            "AUTH0_ISSUER": issuer,
            "API_AUDIENCE": harness.AUDIENCE,
            "AUTH0_JWKS_URL": jwks_url,
            "DATABASE_URL": database_url,
            "API_BASE_URL": BASE_URL,
        }
    )


def environ(headers: dict[str, str]) -> dict[str, Any]:
    """A WSGI environ for ``GET PATH`` with ``headers``, built once."""
    builder = EnvironBuilder(path=PATH, base_url=BASE_URL, headers=headers)
    try:
        return builder.get_environ()
    finally:
        builder.close()


def caller(app: Any) -> Callable[[dict[str, Any]], None]:
    """One request through WSGI; SystemExit unless it is a 200."""

    def call(base: dict[str, Any]) -> None:
        status = respond(app, base)
        if not status.startswith("200"):
            raise SystemExit(f"GET {PATH}: {status}: the bench is broken")

    return call


def run(call: Callable[[dict[str, Any]], None], per_thread: list[list[dict[str, Any]]], core):
    """Each list of environs on a thread of its own, all at once; (CPU us, switches) per
    request. ``core``: the one core every thread is pinned to, or None."""

    def work(environs: list[dict[str, Any]]) -> None:
        if core is not None:
            os.sched_setaffinity(0, {core})  # this thread only
        for env in environs:
            call(env)

    threads = [threading.Thread(target=work, args=(envs,)) for envs in per_thread]
    before = resource.getrusage(resource.RUSAGE_SELF)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    n = sum(len(envs) for envs in per_thread)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    switches = (after.ru_nvcsw - before.ru_nvcsw) + (after.ru_nivcsw - before.ru_nivcsw)
    return cpu / n * 1e6, switches / n


def measure(app: Any, kit: Any, args: argparse.Namespace) -> dict[str, dict[str, list]]:
    """Rounds of every config x scheme; name -> scheme -> [(CPU us, switches), ...]."""
    call = caller(app)
    client = DPoPKey()
    bearer = environ({"Authorization": "Bearer " + harness.mint(kit, "bench|t", [harness.READ])})
    bound = client.mint_bound(kit, sub="bench|t", scopes=[harness.READ], expires_in=3600)

    def dpop_environs(n: int) -> list[dict[str, Any]]:
        return [
            environ(
                {
                    "Authorization": "DPoP " + bound,
                    "DPoP": client.proof("GET", BASE_URL + PATH, bound),
                }
            )
            for _ in range(n)
        ]

    core = min(os.sched_getaffinity(0))
    out: dict[str, dict[str, list]] = {name: {"bearer": [], "dpop": []} for name in CONFIGS}
    n = args.requests
    run(call, [[bearer] * 50], None)  # warm-up: connections, caches, the key set
    run(call, [dpop_environs(50)], None)
    for r in range(args.rounds):
        names = list(CONFIGS) if r % 2 == 0 else list(CONFIGS)[::-1]
        for name in names:
            threads, pinned = CONFIGS[name]
            where = core if pinned else None
            out[name]["bearer"].append(run(call, [[bearer] * n for _ in range(threads)], where))
            per_thread = [dpop_environs(n) for _ in range(threads)]
            out[name]["dpop"].append(run(call, per_thread, where))
    return out


def report(samples: dict[str, dict[str, list]]) -> dict[str, Any]:
    """Print medians (range) and the paired DPoP / Bearer ratio per config."""
    print(f"\n{PATH}, CPU us per request (all threads), median of rounds (range)")
    results = {}
    for name, runs in samples.items():
        bearer = [cpu for cpu, _ in runs["bearer"]]
        dpop = [cpu for cpu, _ in runs["dpop"]]
        ratios = harness.paired_ratios(dpop, bearer)
        b_sw = harness.median([sw for _, sw in runs["bearer"]])
        d_sw = harness.median([sw for _, sw in runs["dpop"]])
        results[name] = {
            "bearer_cpu_us": harness.spread(bearer),
            "dpop_cpu_us": harness.spread(dpop),
            "ratio": harness.spread(ratios),
            "switches_per_request": {"bearer": b_sw, "dpop": d_sw},
        }
        print(
            f"  {name:<20} Bearer {harness.median(bearer):6.1f}"
            f" ({min(bearer):.0f}-{max(bearer):.0f})"
            f"  DPoP {harness.median(dpop):6.1f} ({min(dpop):.0f}-{max(dpop):.0f})"
            f"  ratio {harness.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
            f"  switches/request {b_sw:.1f} vs {d_sw:.1f}"
        )
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny, no speed asserted")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--requests", type=int, default=2000, help="requests per thread per run")
    p.add_argument(
        "--postgres-url",
        default="",
        help="postgresql+psycopg://... for the app's database (default: SQLite)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.requests = 1, 20
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="cashman-bench-") as tmp:
        key_holder = harness.make_kit("http://127.0.0.1/")
        jwks = stack.enter_context(harness.JWKSServer(key_holder.jwks()))
        kit = harness.make_kit(jwks.issuer, key=key_holder.key)
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.postgres_url:
            name = f"cashman_bench_threads_{os.getpid()}"
            url = stack.enter_context(harness.postgres_database(args.postgres_url, name))
        app = build_app(jwks.issuer, jwks.jwks_url_for("cashman"), url)
        # the request log is part of the cost: written to a file, as a server's is
        with open(Path(tmp) / "requests.log", "w") as log, redirect_stderr(log):
            samples = measure(app, kit, args)
        results = report(samples)
    db = "PostgreSQL" if args.postgres_url else "SQLite"
    out = {"machine": harness.machine(), "command": sys.argv, "database": db, "results": results}
    path = harness.save_results("threads-quick" if args.quick else "threads", out)
    print(f"\nresults: {path.relative_to(harness.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
