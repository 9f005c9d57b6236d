"""Issue 12's side-by-side run: Cashman on granian and gunicorn, a bare Flask app, express.

Why: "cheaper per request than Auth0's Node middleware" is a ratio, and only worth
something when both sides are measured in the same run under the same machine noise.
All five apps run at once (2 workers each, the Python ones with 2 threads), all
trusting one loopback issuer, and every round sends each of them each of its loads in
turn (wrk, 8 connections, loopback), the order reversed every other round; each run is
paired with the server CPU it cost (user + sys of the server's whole process tree, from
/proc, divided by the requests wrk counted).

Loads: ``/ping``; ``/secured/ping`` with one repeated token and with a pool of 40 000
distinct tokens (each wrk thread walks its own half); for Cashman also
``GET /incomes`` (page of 50, 60 rows seeded) and ``POST /incomes``.

Then the write path (``bench_writes.py``: 60 s of POST /incomes per server and database,
every acknowledged row checked). Output: ``bench/results/compare.json`` (every round),
``bench/cpu-per-request.png`` and the tables in Markdown, ready for BENCHMARKS.md.

    python bench/bench_compare.py                 # the full run, about 19 minutes
    python bench/bench_compare.py --quick         # smoke: well under a minute, no speed asserted
    python bench/compare_report.py bench/results/compare.json   # tables again, from the file
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import bench_writes
import compare_plot
import compare_report
import harness
from harness import READ, WRITE, Load
from harness.apps import (
    APPS,
    APPS_BY_KEY,
    ENDPOINTS,
    SEED_ROWS,
    check_answers,
    jwks_fetches,
    make_server,
    seed,
)
from harness.servers import EXPRESS_DIR, has_cashman_serve

GRANIAN_ENTRY = {True: "python -m cashman.serve", False: "granian's CLI (server:app)"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny, no speed asserted")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (medians reported)")
    p.add_argument("--seconds", type=float, default=5.0, help="wrk duration of each run")
    p.add_argument("--warmup", type=float, default=5.0, help="wrk seconds per load before round 1")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--workers", type=int, default=2, help="processes of every server")
    p.add_argument("--threads", type=int, default=2, help="threads per Python worker")
    p.add_argument("--pool", type=int, default=40_000, help="distinct tokens of secured_pool")
    p.add_argument("--apps", default=",".join(a.key for a in APPS), help="comma list of apps")
    p.add_argument("--no-writes", action="store_true", help="skip the 60 s write runs")
    p.add_argument("--name", default="compare", help="results file name (bench/results/)")
    p.add_argument("--note", default="", help="said on the plot and tables (e.g. PRELIMINARY)")
    bench_writes.add_arguments(p)
    args = p.parse_args(argv)
    if args.quick:  # CI's smoke: every app, load and check once, no warm-up, well under 1 min
        args.rounds, args.seconds, args.warmup, args.pool = 1, 1.0, 0.0, 64
        args.write_seconds, args.write_servers = 1.0, "cashman-granian"
        args.name += "-quick"
    return args


def require_express() -> None:
    """Node and the locked express install must be there: the comparison needs them."""
    if shutil.which("node") is None:
        raise SystemExit("bench: node is not installed (the express baseline needs Node >= 20)")
    for pkg in ("express", "express-oauth2-jwt-bearer"):
        if not (EXPRESS_DIR / "node_modules" / pkg / "package.json").exists():
            raise SystemExit("bench: express baseline not installed: npm ci --prefix bench/express")


def token_cache_size() -> int | None:
    """Cashman's default verified-token cache size per worker, if it has one."""
    from auth import AuthSettings

    field = getattr(AuthSettings, "__dataclass_fields__", {}).get("token_cache_size")
    return field.default if field is not None else None


def warn_if_pool_is_cached(pool: int) -> None:
    """The pool measures cold verifications only while it is far larger than the cache.

    Each worker sees about half the requests, so between two uses of one token it sees
    about pool / 2 others; below 4 x the cache, some repeats would be cache hits.
    """
    size = token_cache_size()
    if size and pool < 4 * size:
        print(f"warning: a pool of {pool} tokens is not far above the token cache ({size})")


def prepare_tokens(tmp: Path, kit, pool_size: int) -> dict[str, Path]:
    """Token files: one repeated reader, the distinct pool, the lister, the writer."""
    t0 = time.monotonic()
    files = {
        "one": [harness.mint(kit, "bench|one", [READ])],
        "pool": harness.mint_distinct(kit, pool_size, [READ]),
        "reader": [harness.mint(kit, "bench|reader", [READ, WRITE])],
        "writer": [harness.mint(kit, "bench|writer", [WRITE])],
    }
    out = {name: harness.write_tokens(tmp / f"{name}.txt", toks) for name, toks in files.items()}
    print(f"minted {pool_size + 3} tokens in {time.monotonic() - t0:.1f}s", flush=True)
    return out


def loads_for(tmp: Path, tokens: dict[str, Path]) -> dict[str, Load]:
    """Each endpoint key as a wrk load."""
    body = tmp / "income.json"
    body.write_text(json.dumps({"description": "bench income", "amount": 12.34}))
    return {
        "ping": Load("ping"),
        "secured_one": Load("secured_one", path="/secured/ping", tokens=tokens["one"]),
        "secured_pool": Load("secured_pool", path="/secured/ping", tokens=tokens["pool"]),
        "incomes_get": Load("incomes_get", path="/incomes?limit=50", tokens=tokens["reader"]),
        "incomes_post": Load(
            "incomes_post", method="POST", path="/incomes", tokens=tokens["writer"], body=body
        ),
    }


def prepare(servers, loads: dict[str, Load], args) -> list[tuple[str, str]]:
    """Seed Cashman, check that every load answers 2xx, warm every pair up; the pairs."""
    pairs = [(a, e) for e in ENDPOINTS for a in servers if e in APPS_BY_KEY[a].endpoints]
    for app_key, server in servers.items():
        if APPS_BY_KEY[app_key].family == "cashman":
            seed(server.base_url, loads["incomes_get"].first_token(), SEED_ROWS)
    body = {"description": "bench check", "amount": 1}
    for app_key, endpoint in pairs:
        ld = loads[endpoint]
        payload = body if ld.method == "POST" else None
        check_answers(servers[app_key].base_url, ld.method, ld.path, ld.first_token(), payload)
    for app_key, endpoint in pairs if args.warmup > 0 else ():
        # imports, caches, pools, V8's JIT: all warm before round 1 (with 2 s, express's
        # first round was still a third dearer than its others)
        harness.run_wrk(servers[app_key], loads[endpoint], args.warmup, args.connections)
    return pairs


def run_rounds(servers, loads, pairs, args) -> dict[str, dict[str, list[harness.Sample]]]:
    """``args.rounds`` rounds over every (app, endpoint) pair, reversed every other round."""
    samples: dict[str, dict[str, list[harness.Sample]]] = {a: {} for a in servers}
    sent: dict[tuple[str, str], int] = dict.fromkeys(pairs, 0)
    for r in range(args.rounds):
        order = pairs if r % 2 == 0 else pairs[::-1]
        started = time.monotonic()
        for app_key, endpoint in order:
            s = harness.run_wrk(
                servers[app_key],
                loads[endpoint],
                args.seconds,
                args.connections,
                offset=sent[(app_key, endpoint)],
            )
            sent[(app_key, endpoint)] += s.requests
            samples[app_key].setdefault(endpoint, []).append(s)
            print(
                f"  round {r + 1}/{args.rounds} {app_key:<17} {endpoint:<13} {s.rps:7.0f} req/s"
                f"  {s.cpu_us_per_request:7.1f} us CPU/req  p99 {s.p99_ms:6.2f} ms",
                flush=True,
            )
        print(f"round {r + 1} took {time.monotonic() - started:.0f}s", flush=True)
    return samples


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was (proc(5))."""
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def estimate_minutes(args, n_pairs: int) -> float:
    per_run = args.seconds + 0.5
    n_writes = 0 if args.no_writes else len(args.write_servers.split(",")) * 2
    writes = n_writes * (args.write_seconds + 8)
    return (n_pairs * (args.rounds * per_run + args.warmup + 0.5) + 40 + writes) / 60


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.require_wrk()
    apps = [APPS_BY_KEY[k] for k in args.apps.split(",") if k]
    if any(a.family == "express" for a in apps):
        require_express()
    if not args.quick:
        warn_if_pool_is_cached(args.pool)
    t_start = time.monotonic()
    loadavg_start = loadavg()
    with tempfile.TemporaryDirectory(prefix="cashman-bench-") as tmp_name:
        tmp = Path(tmp_name)
        key_holder = harness.make_kit("http://127.0.0.1/")
        with harness.JWKSServer(key_holder.jwks()) as jwks:
            kit = harness.make_kit(jwks.issuer, key=key_holder.key)
            loads = loads_for(tmp, prepare_tokens(tmp, kit, args.pool))
            with ExitStack() as stack:
                servers = {}
                for app in apps:
                    server = make_server(app, jwks, tmp, args.workers, args.threads)
                    servers[app.key] = stack.enter_context(server)
                commands = {a: " ".join(s.command) for a, s in servers.items()}
                pairs = prepare(servers, loads, args)
                minutes = estimate_minutes(args, len(pairs))
                print(f"{len(pairs)} loads per round; the run takes about {minutes:.0f} min")
                measured_from = time.monotonic()
                samples = run_rounds(servers, loads, pairs, args)
                measured_s = time.monotonic() - measured_from
                rss = {a: s.rss_mib() for a, s in servers.items()}
                served_s = time.monotonic() - t_start
            fetches = {a.key: jwks_fetches(a, jwks) for a in apps}
            writes = [] if args.no_writes else bench_writes.measure_all(args, tmp, jwks, kit)
    results = {
        "note": args.note,
        "machine": harness.machine(),
        "cashman_granian_entry": GRANIAN_ENTRY[has_cashman_serve()],
        "args": vars(args),
        "commands": {a: c.replace(str(harness.ROOT) + "/", "") for a, c in commands.items()},
        "measured_seconds": measured_s,
        "server_seconds": served_s,
        "total_seconds": time.monotonic() - t_start,
        "loadavg_start": loadavg_start,
        "loadavg_end": loadavg(),
        "jwks_fetches": fetches,
        "cashman_token_cache_size": token_cache_size(),
        "server_rss_mib": rss,
        "samples": {
            a: {e: [s.as_dict() for s in ss] for e, ss in by_endpoint.items()}
            for a, by_endpoint in samples.items()
        },
        "writes": writes,
    }
    results["summary"] = compare_report.summarise(results)
    path = harness.save_results(args.name, results)
    png = compare_plot.plot(results, harness.RESULTS / f"{args.name}.png" if args.quick else None)
    markdown = compare_report.markdown(results)
    (harness.RESULTS / f"{args.name}.md").write_text(markdown, encoding="utf-8")
    print("\n" + markdown)
    print(f"raw numbers: {path.relative_to(harness.ROOT)}; plot: {png.relative_to(harness.ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
