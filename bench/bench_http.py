"""HTTP cost of the token gate, measured with wrk against gunicorn on loopback.

Why: the claim "authentication costs close to nothing on the repeated-token path" is only
worth something as a ratio against the bare request, measured on the same server in the
same run. Variants run interleaved (A B C D A B C D ...) so the noise of a shared machine
lands on all of them; each run reads the server's CPU (master + workers, /proc) before and
after, so the figure is server CPU per request, not just requests per second.

Variants (one gunicorn server, the project's gunicorn.conf.py, bind on 127.0.0.1):
  ping              GET /ping, no token
  secured_same      GET /secured/ping, one token repeated (the SPA/mobile path: cache hit)
  secured_distinct  GET /secured/ping, tokens rotated from a pool far larger than the
                    verified-token cache, each wrk thread walking its own slice: every
                    request is a cold verification
  incomes_50        GET /incomes?limit=50, one token, a user with 60 incomes

The JWKS is served by a thread of this script (a loopback issuer) that counts fetches; the
bound checked is workers x (1 + run seconds / JWKS_CACHE_TTL).

    python bench/bench_http.py            # full run (several minutes)
    python bench/bench_http.py --quick    # smoke: seconds, asserts no speed
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import harness
from harness import READ, SEED_ROWS, WRITE, Gunicorn, Load
from harness.apps import check_answers, seed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny, no speed asserted")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median reported)")
    p.add_argument("--seconds", type=float, default=5.0, help="wrk duration of each run")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--jwks-ttl", type=float, default=20.0, help="JWKS_CACHE_TTL of the server")
    p.add_argument(
        "--distinct",
        type=int,
        default=0,
        help="size of the distinct-token pool (default: 8 x AUTH_TOKEN_CACHE_SIZE)",
    )
    p.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    p.add_argument("--profile-name", default="http", help="results file name")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.distinct = 1, 1.0, args.distinct or 64
        args.jwks_ttl = min(args.jwks_ttl, 2.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.require_wrk()
    from auth import AuthSettings

    cache_size = AuthSettings.__dataclass_fields__["token_cache_size"].default
    distinct_n = args.distinct or 8 * int(cache_size)
    with tempfile.TemporaryDirectory(prefix="cashman-bench-") as tmp_name:
        tmp = Path(tmp_name)
        key_holder = harness.make_kit("http://127.0.0.1/")
        with harness.JWKSServer(key_holder.jwks()) as jwks:
            kit = harness.make_kit(jwks.issuer, key=key_holder.key)
            t0 = time.monotonic()
            same = harness.mint(kit, "bench|same", [READ])
            reader = harness.mint(kit, "bench|reader", [READ, WRITE])
            pool = harness.mint_distinct(kit, distinct_n, [READ])
            print(f"minted {distinct_n} distinct tokens in {time.monotonic() - t0:.1f}s")
            files = {
                "same": harness.write_tokens(tmp / "same.txt", [same]),
                "distinct": harness.write_tokens(tmp / "distinct.txt", pool),
                "reader": harness.write_tokens(tmp / "reader.txt", [reader]),
            }
            loads = [
                Load("ping", path="/ping"),
                Load("secured_same", path="/secured/ping", tokens=files["same"]),
                Load("secured_distinct", path="/secured/ping", tokens=files["distinct"]),
                Load("incomes_50", path="/incomes?limit=50", tokens=files["reader"]),
            ]
            env = {
                "AUTH0_ISSUER": jwks.issuer,
                "API_AUDIENCE": harness.AUDIENCE,
                "DATABASE_URL": args.database_url or f"sqlite:///{tmp / 'bench.db'}",
                "JWKS_CACHE_TTL": str(args.jwks_ttl),
                "JWKS_MIN_REFRESH_INTERVAL": str(min(30.0, args.jwks_ttl / 2)),
            }
            server = Gunicorn(env, tmp / "gunicorn.log", workers=args.workers, threads=args.threads)
            with server:
                started = time.monotonic()
                seed(server.base_url, reader, SEED_ROWS)
                for ld in loads:  # no figure made of 401s
                    check_answers(server.base_url, ld.method, ld.path, ld.first_token())
                for ld in loads:  # warm-up: imports, JIT-free caches, connection pools
                    harness.run_wrk(server, ld, 1, args.connections)
                fetches_before = jwks.fetches
                measured_from = time.monotonic()
                samples = harness.interleave(
                    server, loads, args.rounds, args.seconds, args.connections
                )
                elapsed = time.monotonic() - started
                measured = time.monotonic() - measured_from
                rss = {pid: harness.rss_mib(pid) for pid in server.workers_pids()}
            fetches = jwks.fetches
    report(args, samples, fetches, fetches_before, elapsed, measured, rss, distinct_n)
    return 0


def report(args, samples, fetches, fetches_before, elapsed, measured, rss, distinct_n) -> None:
    med = {
        name: {
            "rps": harness.median([s.rps for s in ss]),
            "cpu_us_per_request": harness.median([s.cpu_us_per_request for s in ss]),
            "p50_ms": harness.median([s.p50_ms for s in ss]),
            "p99_ms": harness.median([s.p99_ms for s in ss]),
        }
        for name, ss in samples.items()
    }
    ratios = {
        f"{n}/ping": {
            "cpu": harness.ratio_medians(samples, n, "ping", "cpu"),
            "rps": harness.ratio_medians(samples, n, "ping", "rps"),
        }
        for n in samples
        if n != "ping"
    }
    bound = args.workers * (1 + elapsed / args.jwks_ttl)
    print()
    print(f"machine: {json.dumps(harness.machine())}")
    print(
        f"server: gunicorn -c gunicorn.conf.py server:app, {args.workers} workers x "
        f"{args.threads} gthread threads; wrk {args.connections} connections; "
        f"{args.rounds} rounds x {args.seconds:.0f}s"
    )
    print(f"{'variant':<18} {'req/s':>8} {'CPU us/req':>11} {'p50 ms':>7} {'p99 ms':>7}")
    for name, m in med.items():
        print(
            f"{name:<18} {m['rps']:8.0f} {m['cpu_us_per_request']:11.1f} "
            f"{m['p50_ms']:7.2f} {m['p99_ms']:7.2f}"
        )
    print("ratios to ping (median of per-round ratios; rps ratio = ping rps / variant rps):")
    for name, r in ratios.items():
        print(f"  {name:<24} CPU x{r['cpu']:.2f}   throughput cost x{r['rps']:.2f}")
    print(
        f"JWKS fetches: {fetches} in {elapsed:.0f}s of server life (TTL {args.jwks_ttl:.0f}s, "
        f"bound workers x (1 + s/TTL) = {bound:.1f}); {fetches - fetches_before} while measured"
    )
    print("worker RSS MiB after the run: " + ", ".join(f"{v:.1f}" for v in rss.values()))
    path = harness.save_results(
        args.profile_name if not args.quick else f"{args.profile_name}-quick",
        {
            "machine": harness.machine(),
            "args": vars(args),
            "distinct_tokens": distinct_n,
            "medians": med,
            "ratios": ratios,
            "jwks": {"fetches": fetches, "server_seconds": elapsed, "bound": bound},
            "measured_seconds": measured,
            "rss_mib": list(rss.values()),
            "samples": {n: [s.__dict__ for s in ss] for n, ss in samples.items()},
        },
    )
    print(f"raw numbers: {path.relative_to(harness.ROOT)}")


if __name__ == "__main__":
    raise SystemExit(main())
