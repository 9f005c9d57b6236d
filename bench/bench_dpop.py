"""DPoP's cost: a DPoP request next to the same Bearer request, and its parts in process.

Part 1, through HTTP (SPEC §3a "Cost"): Cashman on its production server (``python -m
cashman.serve``, granian, 2 workers x 2 threads), one on SQLite and one on PostgreSQL,
both running for the whole run. Every round sends each server, for ``/secured/ping`` and
``GET /incomes?limit=50`` (60 rows seeded), the Bearer request and the same request with
a DPoP-bound token and a fresh proof per request (wrk, 8 connections, loopback), in turn,
the order reversed every other round. ``--connections 2,8`` measures each pair at every
listed load in the same rounds: what a request costs depends on how busy the server is,
Bearer's most (a saturated server queues and batches; a lightly loaded one pays its
wake-ups per request). ``--paced 0.5`` also measures each pair paced: both requests
sent at one rate, that share of the rate DPoP reached saturated in the same round (what
a request costs a server below its capacity; saturated is the SPEC's comparison, and
at one rate the Bearer server is less busy than the DPoP one, so the ratio falls mostly
because the Bearer request gets dearer: BENCHMARKS.md 7e). Each run is paired with the
server CPU it cost (the whole process tree, /proc); the figure is the median over rounds
of the per-round ratio DPoP / Bearer, next to the SPEC's limits (2x and 1.5x). Proofs are
made by this script before each DPoP run (wrk cannot sign), one per request to send.

Part 2, in process, no HTTP. Per operation, median over rounds of the per-round mean:

  (a) ``DPoPVerifier.verify`` of a fresh ES256 proof (new ``jti``) from a known client
      key, in-process replay store: the steady state of a client (header memo hit);
  (b) the same from a client key never seen before (header parsed, key built, RFC 7638
      thumbprint computed);
  (c) a bare ``cryptography`` ES256 verify of the same proofs (the floor);
  (d) ``DatabaseReplayStore.record`` on SQLite (a WAL file under a temporary directory);
  (e) ``DatabaseReplayStore.record`` on PostgreSQL, when ``--postgres-url`` is given
      (a throw-away schema, dropped afterwards).

CPU is ``time.process_time`` (this process only: the PostgreSQL server's own CPU is not
in (e)); wall time is shown beside it because a database write also waits.

PostgreSQL is used when ``--postgres-url`` (or ``TEST_POSTGRES_URL``) names a server: a
throw-away database (part 1) and schema (part 2) on it, dropped afterwards.

    python bench/bench_dpop.py --postgres-url postgresql+psycopg://USER@127.0.0.1:5432/DB
    python bench/bench_dpop.py --quick      # smoke: under a minute, no speed asserted
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import harness
from harness.apps import APPS_BY_KEY, SEED_ROWS, make_server, seed
from harness.dpop import dpop_load
from harness.dpop_inprocess import inprocess_part

from auth.testing import DPoPKey

# -- part 1: through HTTP ---------------------------------------------------------------

# endpoint -> (path requested, SPEC limit of DPoP / Bearer CPU per request)
ENDPOINTS = {"/secured/ping": ("/secured/ping", 2.0), "/incomes": ("/incomes?limit=50", 1.5)}
PROOF_MARGIN = 1.6  # proofs per request the Bearer run of the round sent (DPoP is slower)
PACED_TOLERANCE = 0.1  # a paced run this far short of its rate is flagged


def http_part(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Part 1: every round, each database x endpoint, the Bearer and the DPoP run."""
    with ExitStack() as stack:
        key_holder = harness.make_kit("http://127.0.0.1/")
        jwks = stack.enter_context(harness.JWKSServer(key_holder.jwks()))
        kit = harness.make_kit(jwks.issuer, key=key_holder.key)
        client = DPoPKey()
        bearer = harness.mint(kit, "bench|dpop", [harness.READ, harness.WRITE])
        bound = client.mint_bound(kit, sub="bench|dpop", scopes=[harness.READ], expires_in=4 * 3600)
        servers = {}
        for db, url in databases(args, stack).items():
            server = make_server(
                APPS_BY_KEY[f"cashman-{args.server}"],
                jwks,
                tmp,
                workers=args.workers,
                threads=args.threads,
                database_url=url,
            )
            # the URL clients call is the one the proofs are made for (SPEC §3a)
            server.env = {**server.env, "API_BASE_URL": server.base_url}
            server.log_path = tmp / f"cashman-{db}.log"
            servers[db] = stack.enter_context(server)
            seed(server.base_url, bearer, SEED_ROWS)
        bearer_file = harness.write_tokens(tmp / "bearer.txt", [bearer])
        samples: dict[str, dict[str, list[harness.Sample]]] = {}
        for r in range(args.http_rounds):
            for db, server in servers.items():
                for endpoint, (path, _) in ENDPOINTS.items():
                    for conns in args.connections:
                        credentials = (client, bound, bearer_file)
                        runs = measure_pair(args, tmp, server, credentials, path, conns, r)
                        record(args, samples, r, f"{db} {endpoint}{_load_label(args, conns)}", runs)
                        if not args.paced:
                            continue
                        # one rate for both: a share of what DPoP served saturated
                        rate = max(runs["dpop"].rps * args.paced, 1.0)
                        runs = measure_pair(args, tmp, server, credentials, path, conns, r, rate)
                        label = f"{db} {endpoint}{_load_label(args, conns)} paced"
                        record(args, samples, r, label, runs, rate)
                        args.paced_targets.setdefault(label, []).append(rate)
        return summarise_http(args, samples, list(servers))


def record(args, samples, round_index, name, runs, rate=None) -> None:
    """Keep a pair's samples under ``name`` and print them (with the target ``rate``)."""
    for scheme, sample in runs.items():
        samples.setdefault(f"{name} {scheme}", []).append(sample)
        target = f" (target {rate:.0f})" if rate is not None else ""
        print(
            f"  round {round_index + 1}/{args.http_rounds} {name:<32} {scheme:<6} "
            f"{sample.rps:7.0f} req/s{target} {sample.cpu_us_per_request:7.1f} us CPU/req",
            flush=True,
        )


def _load_label(args: argparse.Namespace, conns: int) -> str:
    """`` c8`` when several loads are measured, else nothing (the figures' keys as before)."""
    return f" c{conns}" if len(args.connections) > 1 else ""


def measure_pair(args, tmp, server, credentials, path, conns, round_index, rate=None):
    """The Bearer run, then the DPoP run with enough fresh proofs (order flipped every
    other round, the proofs then sized on the previous round's Bearer run, or on
    ``rate``), both with ``conns`` wrk connections, paced at ``rate`` requests a second
    when given. ``credentials``: (client key, bound token, Bearer token file)."""
    client, bound, bearer_file = credentials
    bearer_load = harness.Load("bearer", path=path, tokens=bearer_file)
    htu = server.base_url + path.split("?", 1)[0]
    runs: dict[str, harness.Sample] = {}
    order = ("bearer", "dpop") if round_index % 2 == 0 else ("dpop", "bearer")
    for scheme in order:
        if scheme == "bearer":
            runs["bearer"] = harness.run_wrk(server, bearer_load, args.seconds, conns, rate=rate)
            continue
        if rate is None:
            expected = args.last_bearer.get((server.base_url, path, conns), 8000 * args.seconds)
        else:
            expected = rate * args.seconds
        count = int(expected * PROOF_MARGIN) + 1000
        load = dpop_load("dpop", tmp, client, bound, "GET", path, htu, count)
        runs["dpop"] = harness.run_wrk(server, load, args.seconds, conns, rate=rate)
    if rate is None:
        args.last_bearer[(server.base_url, path, conns)] = runs["bearer"].requests
    return runs


def summarise_http(args, samples, dbs) -> dict[str, Any]:
    """Medians per variant and the paired DPoP / Bearer ratio per database, endpoint and
    load."""
    out: dict[str, Any] = {}
    print("\nserver CPU per request, median over rounds (range); DPoP / Bearer paired per round")
    for db in dbs:
        for endpoint, (_, limit) in ENDPOINTS.items():
            for conns in args.connections:
                load = f"{db} {endpoint}{_load_label(args, conns)}"
                for name in (load, f"{load} paced") if args.paced else (load,):
                    out[name] = summarise_pair(samples, name, conns, limit, args.paced_targets)
    return out


def summarise_pair(samples, name, conns, limit, paced_targets) -> dict[str, Any]:
    """One pair's figures (medians, ranges, the paired ratio, the rates reached), printed;
    ``paced_targets``: the rates asked of each paced pair, per name."""
    bearer = [s.cpu_us_per_request for s in samples[f"{name} bearer"]]
    dpop = [s.cpu_us_per_request for s in samples[f"{name} dpop"]]
    ratios = harness.paired_ratios(dpop, bearer)
    ratio = harness.median(ratios)
    target = harness.median(targets) if (targets := paced_targets.get(name)) else None
    # the SPEC's limit compares the requests saturated; a paced pair is another question
    verdict = f"SPEC <= {limit}x: " + ("within" if ratio <= limit else "OVER")
    if target is not None:
        verdict = "paced, not the SPEC's comparison"
    rates = {s: harness.median([x.rps for x in samples[f"{name} {s}"]]) for s in ("bearer", "dpop")}
    print(
        f"  {name:<34} Bearer {harness.median(bearer):7.1f} us  "
        f"DPoP {harness.median(dpop):7.1f} us  ratio {ratio:.2f}x "
        f"({min(ratios):.2f}-{max(ratios):.2f}), {verdict}; "
        f"req/s {rates['bearer']:.0f} / {rates['dpop']:.0f}"
    )
    if target is not None and min(rates.values()) < target * (1 - PACED_TOLERANCE):
        print(f"  WARNING: {name}: a run fell short of the paced rate ({target:.0f}/s)")
    return {
        "connections": conns,
        "bearer_cpu_us": harness.spread(bearer),
        "dpop_cpu_us": harness.spread(dpop),
        "ratio": harness.spread(ratios),
        "requests_per_second": rates,
        "spec_limit": limit,
    }


def databases(args: argparse.Namespace, stack: ExitStack) -> dict[str, str]:
    """SQLite (a fresh file per server, from make_server) and, when given, PostgreSQL."""
    urls = {"SQLite": ""}
    if args.postgres_url:
        name = f"cashman_bench_dpop_{os.getpid()}"
        urls["PostgreSQL"] = stack.enter_context(harness.postgres_database(args.postgres_url, name))
    return urls


def connection_counts(text: str) -> tuple[int, ...]:
    """``"8"`` or ``"2,8"``: wrk connection counts, each at least 2 (wrk runs 2 threads)."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not counts or min(counts) < 2:
        raise argparse.ArgumentTypeError("wrk needs at least 2 connections (one per thread)")
    return tuple(dict.fromkeys(counts))


def paced_share(text: str) -> float:
    """``--paced``: 0 (off) or a share of DPoP's saturated rate, above 0 and at most 1."""
    try:
        share = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= share <= 1:
        raise argparse.ArgumentTypeError("a share of the saturated rate: 0 (off) to 1")
    return share


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny, no speed asserted")
    p.add_argument("--http-rounds", type=int, default=7, help="part 1: interleaved rounds")
    p.add_argument("--seconds", type=float, default=5.0, help="part 1: wrk seconds per run")
    p.add_argument(
        "--connections",
        type=connection_counts,
        default=(8,),
        help="part 1: wrk connections, or several (2,8) measured side by side each round",
    )
    p.add_argument(
        "--paced",
        type=paced_share,
        default=0.0,
        help="part 1: also measure each pair paced at this share (0-1] of the rate DPoP "
        "reached saturated in the same round (default 0: saturated only)",
    )
    p.add_argument("--workers", type=int, default=2, help="part 1: server processes")
    p.add_argument("--threads", type=int, default=2, help="part 1: threads per worker")
    p.add_argument(
        "--server",
        choices=("granian", "gunicorn"),
        default="granian",
        help="part 1: granian (python -m cashman.serve, the production entry) or gunicorn",
    )
    p.add_argument("--rounds", type=int, default=7, help="part 2: rounds")
    p.add_argument("--ops", type=int, default=500, help="part 2: operations per round")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", ""),
        help="postgresql+psycopg://... (default: TEST_POSTGRES_URL; none: SQLite only)",
    )
    p.add_argument("--no-http", action="store_true", help="part 2 only (no wrk needed)")
    p.add_argument("--no-inprocess", action="store_true", help="part 1 only")
    args = p.parse_args(argv)
    if args.quick:
        args.http_rounds, args.seconds, args.rounds, args.ops = 1, 1.0, 2, 50
        args.paced = args.paced or 0.5  # the smoke runs the paced path too
    args.rounds, args.ops = max(args.rounds, 1), max(args.ops, 1)
    args.last_bearer = {}
    args.paced_targets = {}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, Any] = {"machine": harness.machine(), "command": sys.argv}
    if not args.no_http:
        harness.require_wrk()
        with tempfile.TemporaryDirectory() as tmp:
            results["http"] = http_part(args, Path(tmp))
    if not args.no_inprocess:
        results["inprocess"] = inprocess_part(args)
    path = harness.save_results("dpop-quick" if args.quick else "dpop", results)
    print(f"\nresults: {path.relative_to(harness.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
