"""The write path: POST /incomes under load on SQLite and PostgreSQL, nothing lost.

Why: writes are where storage choices show (SQLite serialises writers on one file lock,
PostgreSQL does not), and a fast write that loses a row is worth nothing. For each server
(Cashman on granian and on gunicorn, 2 workers x 2 threads) and each database, a fresh
server on an empty database takes ``POST /incomes`` from wrk (8 connections, one
repeated write token, 60 s after a 1 s warm-up), and the bench reports requests per
second, p50/p99 latency (wrk's), server CPU per request and memory. Then it checks the
table against what was acknowledged:

- every 201's ``id`` (wrk/requests.lua records them) is a row in the table;
- every 2xx was a 201 carrying an id;
- rows beyond the acknowledged ones are at most the requests in flight when wrk stopped
  (connections x runs): wrk drops those answers, the server may still have stored them.

PostgreSQL: a database of its own, created beside the given one and dropped after.

    python bench/bench_writes.py                 # 60 s per server and database
    python bench/bench_writes.py --quick         # smoke
    BENCH_POSTGRES_URL=postgresql+psycopg://user@127.0.0.1:5432/db python bench/bench_writes.py
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import harness
import sqlalchemy as sa
from harness import WRITE, Load
from harness.apps import APPS_BY_KEY, make_server

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DB = "cashman_bench_writes"
WRITERS = "cashman-granian,cashman-gunicorn"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared with bench_compare.py, which runs this bench after its rounds."""
    p.add_argument("--write-seconds", type=float, default=60.0, help="wrk run per database")
    p.add_argument("--write-connections", type=int, default=8)
    p.add_argument("--databases", default="sqlite,postgresql")
    p.add_argument("--write-servers", default=WRITERS, help="apps to write to, comma list")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL")
        or os.environ.get("TEST_POSTGRES_URL")
        or DEFAULT_PG,
        help="an existing database to connect to; the bench creates its own beside it",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny, no speed asserted")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    add_arguments(p)
    args = p.parse_args(argv)
    if args.quick:
        args.write_seconds = 1.0
    return args


def stored_ids(url: str) -> set[int]:
    """Ids of every row of the transactions table (the bench's database holds nothing else)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            table = sa.table("transactions", sa.column("id"))
            return set(conn.execute(sa.select(table.c.id)).scalars())
    finally:
        engine.dispose()


def check_stored(name: str, samples: list[harness.Sample], stored: set[int], slack: int) -> dict:
    """Compare acknowledged ids with the table; raise SystemExit on a lost or stray row."""
    acked = [i for s in samples for i in s.acknowledged_ids]
    answered = sum(s.requests for s in samples)
    missing = set(acked) - stored
    extra = len(stored) - len(set(acked))
    problems = []
    if len(acked) != answered:
        problems.append(f"{answered} 2xx answers but {len(acked)} were 201s with an id")
    if len(set(acked)) != len(acked):
        problems.append("an id was acknowledged twice")
    if missing:
        problems.append(f"{len(missing)} acknowledged rows are not stored")
    if not 0 <= extra <= slack:
        problems.append(f"{extra} rows beyond the acknowledged ones (at most {slack} in flight)")
    if problems:
        raise SystemExit(f"{name}: " + "; ".join(problems))
    return {"acknowledged": len(acked), "stored": len(stored), "in_flight_stored": extra}


def measure(args, tmp: Path, jwks, tokens: Path, body: Path, app_key: str, db: str, url: str):
    """One server on one fresh database: warm-up, the measured run, the row check."""
    app = APPS_BY_KEY[app_key]
    server = make_server(app, jwks, tmp, args.workers, args.threads, database_url=url)
    server.log_path = tmp / f"writes-{app_key}-{db}.log"
    load = Load(f"post_incomes_{db}", method="POST", path="/incomes", tokens=tokens, body=body)
    conns = args.write_connections
    with server:
        warm = harness.run_wrk(server, load, 1, conns, record_ids=True)
        s = harness.run_wrk(server, load, args.write_seconds, conns, record_ids=True)
        rss = server.rss_mib()
    rows = check_stored(f"{app_key} {db}", [warm, s], stored_ids(url), slack=2 * conns)
    result = {
        "app": app_key,
        "database": db,
        "seconds": s.seconds,
        "rps": s.rps,
        "requests": s.requests,
        "p50_ms": s.p50_ms,
        "p99_ms": s.p99_ms,
        "cpu_us_per_request": s.cpu_us_per_request,
        "server_rss_mib": rss,
        **rows,
    }
    print(
        f"  {app_key:<17} {db:<10} {s.rps:6.0f} req/s  p50 {s.p50_ms:6.2f} ms  "
        f"p99 {s.p99_ms:7.2f} ms  {s.cpu_us_per_request:7.1f} us CPU/req  "
        f"{rows['acknowledged']} acknowledged, all stored ({rows['in_flight_stored']} more "
        "stored while in flight at the cut-off)",
        flush=True,
    )
    return result


def postgres_reachable(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def measure_all(args, tmp: Path, jwks, kit) -> list[dict]:
    """Every requested server x database, one after the other; PostgreSQL must answer."""
    tokens = harness.write_tokens(tmp / "writer.txt", [harness.mint(kit, "bench|writer", [WRITE])])
    body = tmp / "body.json"
    body.write_text(json.dumps({"description": "bench income", "amount": 12.34}))
    results = []
    databases = [d for d in args.databases.split(",") if d]
    if "postgresql" in databases and not postgres_reachable(args.postgres_url):
        raise SystemExit("postgresql: not reachable at --postgres-url (or leave it out)")
    for app_key in [a for a in args.write_servers.split(",") if a]:
        for db in databases:
            if db == "sqlite":
                url = f"sqlite:///{tmp / f'writes-{app_key}.db'}"
                results.append(measure(args, tmp, jwks, tokens, body, app_key, db, url))
            elif db == "postgresql":
                with harness.postgres_database(args.postgres_url, BENCH_DB) as url:
                    results.append(measure(args, tmp, jwks, tokens, body, app_key, db, url))
            else:
                raise SystemExit(f"unknown database {db!r} (sqlite, postgresql)")
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.require_wrk()
    with tempfile.TemporaryDirectory(prefix="cashman-bench-") as tmp_name:
        tmp = Path(tmp_name)
        key_holder = harness.make_kit("http://127.0.0.1/")
        with harness.JWKSServer(key_holder.jwks()) as jwks:
            kit = harness.make_kit(jwks.issuer, key=key_holder.key)
            print(
                f"POST /incomes, {args.workers} workers x {args.threads} threads, wrk "
                f"{args.write_connections} connections, {args.write_seconds:.0f}s per database"
            )
            results = measure_all(args, tmp, jwks, kit)
    path = harness.save_results(
        "writes-quick" if args.quick else "writes",
        {"machine": harness.machine(), "args": vars(args), "results": results},
    )
    print(f"raw numbers: {path.relative_to(harness.ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
