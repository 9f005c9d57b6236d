"""DPoP's cost: a DPoP request next to the same Bearer request, and its parts in process.

Part 1, through HTTP (SPEC §3a "Cost"): Cashman on its production server (``python -m
cashman.serve``, granian, 2 workers x 2 threads), one on SQLite and one on PostgreSQL,
both running for the whole run. Every round sends each server, for ``/secured/ping`` and
``GET /incomes?limit=50`` (60 rows seeded), the Bearer request and the same request with
a DPoP-bound token and a fresh proof per request (wrk, 8 connections, loopback), in turn,
the order reversed every other round. ``--connections 2,8`` measures each pair at every
listed load in the same rounds: what a request costs depends on how busy the server is,
Bearer's most (a saturated server queues and batches; a lightly loaded one pays its
wake-ups per request). Saturated, the two requests are compared at different rates (Bearer
is served two to three times as fast, and shares the server's fixed costs of a wake-up
among more requests), so each pair is also measured paced (``--paced``, by default half
the rate DPoP reached saturated in the same round): both requests sent on the same fixed
schedule, the server under the same load for both. Each run is paired with the server CPU it cost
(the whole process tree, /proc); the figure is the median over rounds of the per-round
ratio DPoP / Bearer, next to the SPEC's limits (2x and 1.5x). Proofs are made by this
script before each DPoP run (wrk cannot sign), one per request to send.

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
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import harness
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from harness.apps import APPS_BY_KEY, SEED_ROWS, make_server, seed
from harness.dpop import dpop_load
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from auth.dpop import DPoPVerifier
from auth.dpop_settings import DPoPSettings
from auth.replay import MemoryReplayStore
from auth.testing import AuthKit, DPoPKey
from cashman.database import Database
from cashman.dpop_replay import DatabaseReplayStore
from cashman.migrate import upgrade

URL = "https://api.example.com/incomes"
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


Variant = Callable[[], tuple[float, float]]


def measure(body: Callable[[Any], object], items: list[Any]) -> tuple[float, float]:
    """(CPU us, wall us) per item of ``body(item)`` over ``items``; only this loop is timed."""
    cpu, wall = time.process_time_ns(), time.perf_counter_ns()
    for item in items:
        body(item)
    return (
        (time.process_time_ns() - cpu) / len(items) / 1000,
        (time.perf_counter_ns() - wall) / len(items) / 1000,
    )


def proof_variants(ops: int) -> dict[str, Variant]:
    """Variants (a)-(c). Each run makes fresh proofs first (client work, not timed)."""
    kit = AuthKit()
    known = DPoPKey()
    token = known.mint_bound(kit)
    settings = DPoPSettings(api_base_url="https://api.example.com")
    verifier = DPoPVerifier(settings, MemoryReplayStore(max_entries=10**7))
    public = known.private_key.public_key()
    es256 = ec.ECDSA(hashes.SHA256())

    def check(case: tuple[str, dict[str, Any]]) -> object:
        proof, claims = case
        return verifier.verify(
            [proof], method="GET", htu=URL, access_token=token, token_claims=claims
        )

    def verify_known() -> tuple[float, float]:
        claims = {"cnf": {"jkt": known.jkt}}
        return measure(check, [(known.proof("GET", URL, token), claims) for _ in range(ops)])

    def verify_new_key() -> tuple[float, float]:
        strangers = [DPoPKey() for _ in range(ops)]
        cases = [(s.proof("GET", URL, token), {"cnf": {"jkt": s.jkt}}) for s in strangers]
        return measure(check, cases)

    def bare_es256() -> tuple[float, float]:
        inputs = []
        for _ in range(ops):
            signing_input, signature = known.proof("GET", URL, token).rsplit(".", 1)
            raw = base64.urlsafe_b64decode(signature + "==")
            der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
            inputs.append((der, signing_input.encode()))
        return measure(lambda item: public.verify(item[0], item[1], es256), inputs)

    return {
        "(a) verify, known client key": verify_known,
        "(b) verify, new client key": verify_new_key,
        "(c) bare ES256 verify": bare_es256,
    }


def store_variant(store: DatabaseReplayStore, ops: int) -> Variant:
    """A replay-store write of a fresh ``jti`` per operation."""

    def record(jti: str) -> None:
        if not store.record(JKT, jti, time.time() + 600):
            raise SystemExit("a fresh jti was refused: the bench is broken")

    return lambda: measure(record, [uuid.uuid4().hex for _ in range(ops)])


def postgres_schema(url: str) -> tuple[str, Callable[[], None]]:
    """A fresh schema on ``url`` and a function that drops it."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False), drop


# -- part 1: through HTTP ---------------------------------------------------------------

# endpoint -> (path requested, SPEC limit of DPoP / Bearer CPU per request)
ENDPOINTS = {"/secured/ping": ("/secured/ping", 2.0), "/incomes": ("/incomes?limit=50", 1.5)}
PROOF_MARGIN = 1.6  # proofs per request the Bearer run of the round sent (DPoP is slower)
PACED_TOLERANCE = 0.1  # paced runs further apart in rate than this are not the same load


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
                        # the same load for both: a share of what DPoP served saturated
                        rate = runs["dpop"].rps * args.paced
                        runs = measure_pair(args, tmp, server, credentials, path, conns, r, rate)
                        label = f"{db} {endpoint}{_load_label(args, conns)} paced"
                        record(args, samples, r, label, runs, rate)
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
                    out[name] = summarise_pair(samples, name, conns, limit)
    return out


def summarise_pair(samples, name, conns, limit) -> dict[str, Any]:
    """One pair's figures (medians, ranges, the paired ratio, the rates reached), printed."""
    bearer = [s.cpu_us_per_request for s in samples[f"{name} bearer"]]
    dpop = [s.cpu_us_per_request for s in samples[f"{name} dpop"]]
    ratios = harness.paired_ratios(dpop, bearer)
    ratio = harness.median(ratios)
    verdict = "within" if ratio <= limit else "OVER"
    rates = {s: harness.median([x.rps for x in samples[f"{name} {s}"]]) for s in ("bearer", "dpop")}
    print(
        f"  {name:<34} Bearer {harness.median(bearer):7.1f} us  "
        f"DPoP {harness.median(dpop):7.1f} us  ratio {ratio:.2f}x "
        f"({min(ratios):.2f}-{max(ratios):.2f}), SPEC <= {limit}x: {verdict}; "
        f"req/s {rates['bearer']:.0f} / {rates['dpop']:.0f}"
    )
    if name.endswith(" paced") and abs(rates["dpop"] / rates["bearer"] - 1) > PACED_TOLERANCE:
        print(f"  WARNING: {name}: the two runs did not reach the same rate (not the same load)")
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


# -- part 2: in process ---------------------------------------------------------------------


def inprocess_part(args: argparse.Namespace) -> dict[str, Any]:
    """Part 2: proof verification and the replay-store write, side by side."""
    rounds, ops = args.rounds, args.ops
    variants = proof_variants(ops)
    cleanups: list[Callable[[], None]] = []
    databases_: list[Database] = []
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"(d) replay write, SQLite": f"sqlite:///{tmp}/bench.db"}
        if args.postgres_url:
            url, drop = postgres_schema(args.postgres_url)
            urls["(e) replay write, PostgreSQL"] = url
            cleanups.append(drop)
        try:
            for name, url in urls.items():
                db = Database(url)
                databases_.append(db)
                upgrade(db.engine)
                variants[name] = store_variant(DatabaseReplayStore(db.engine), ops)
            for run in variants.values():  # warm-up
                run()
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
            names = list(variants)
            for i in range(rounds):  # side by side, order rotated each round
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    samples[name].append(variants[name]())
        finally:
            for db in databases_:
                db.dispose()
            for cleanup in cleanups:
                cleanup()

    print(f"\n{rounds} rounds x {ops} operations; median of per-round means, microseconds")
    print(f"{'variant':34} {'CPU us':>8} {'wall us':>8}")
    out = {}
    for name in names:
        cpu = statistics.median(s[0] for s in samples[name])
        wall = statistics.median(s[1] for s in samples[name])
        out[name] = {"cpu_us": cpu, "wall_us": wall}
        print(f"{name:34} {cpu:8.1f} {wall:8.1f}")
    floor = statistics.median(s[0] for s in samples["(c) bare ES256 verify"])
    known = statistics.median(s[0] for s in samples["(a) verify, known client key"])
    print(f"(a)/(c): {known / floor:.2f}x the bare signature check")
    return out


def connection_counts(text: str) -> tuple[int, ...]:
    """``"8"`` or ``"2,8"``: wrk connection counts, each at least 2 (wrk runs 2 threads)."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not counts or min(counts) < 2:
        raise argparse.ArgumentTypeError("wrk needs at least 2 connections (one per thread)")
    return tuple(dict.fromkeys(counts))


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
        type=float,
        default=0.5,
        help="part 1: also measure each pair paced at this share of the rate DPoP reached "
        "saturated in the same round (0: saturated only)",
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
    args.rounds, args.ops = max(args.rounds, 1), max(args.ops, 1)
    args.last_bearer = {}
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
