"""POST /incomes throughput on SQLite and PostgreSQL, with latency and worker memory.

Why: writes are where storage choices show (SQLite serialises writers on one file lock,
PostgreSQL does not), and where a worker's memory would creep over a long run. This is a
reported figure with no target yet: requests per second, p50/p99 latency, server CPU per
request, and resident memory of each worker after the run, for each database, with the
project's gunicorn.conf.py (2 workers, gthread) on loopback.

Each database gets a fresh server and an empty database of its own (PostgreSQL: a
dedicated database created for the run and dropped after). One write token is repeated,
as a client does during its token's lifetime. Rows in the table are counted after the run
and must be at least the acknowledged requests: nothing acknowledged is lost.

    python bench/bench_writes.py                 # 60 s per database
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
from harness import WRITE, Gunicorn, Load

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DB = "cashman_bench_writes"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny, no speed asserted")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--databases", default="sqlite,postgresql")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL")
        or os.environ.get("TEST_POSTGRES_URL")
        or DEFAULT_PG,
        help="an existing database to connect to; the bench creates its own beside it",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.seconds = 1.0
    return args


def postgres_reachable(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def count_rows(url: str) -> int:
    """Rows in the transactions table (whatever the storage calls it)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = [t for t in sa.inspect(conn).get_table_names() if "transaction" in t]
            if not tables:
                return -1
            query = sa.select(sa.func.count()).select_from(sa.table(tables[0]))
            return conn.execute(query).scalar_one()
    finally:
        engine.dispose()


def run_one(args, tmp: Path, jwks, tokens: Path, body: Path, db: str, url: str) -> dict:
    env = {
        "AUTH0_ISSUER": jwks.issuer,
        "API_AUDIENCE": harness.AUDIENCE,
        "DATABASE_URL": url,
    }
    server = Gunicorn(env, tmp / f"gunicorn-{db}.log", workers=args.workers, threads=args.threads)
    load = Load(f"post_incomes_{db}", method="POST", path="/incomes", tokens=tokens, body=body)
    with server:
        harness.run_wrk(server, load, 1, args.connections)  # warm-up
        sample = harness.run_wrk(server, load, args.seconds, args.connections)
        rss = [harness.rss_mib(pid) for pid in server.workers_pids()]
    rows = count_rows(url)
    result = {
        "database": db,
        "rps": sample.rps,
        "requests": sample.requests,
        "p50_ms": sample.p50_ms,
        "p99_ms": sample.p99_ms,
        "cpu_us_per_request": sample.cpu_us_per_request,
        "worker_rss_mib": rss,
        "rows_after": rows,
    }
    print(
        f"{db:<10} {sample.rps:8.0f} req/s  p50 {sample.p50_ms:6.2f} ms"
        f"  p99 {sample.p99_ms:7.2f} ms  {sample.cpu_us_per_request:7.1f} us CPU/req  RSS/worker "
        + ", ".join(f"{r:.1f}" for r in rss)
        + f" MiB  rows {rows}",
        flush=True,
    )
    if 0 <= rows < sample.requests:
        raise SystemExit(f"{db}: {sample.requests} acknowledged but only {rows} rows stored")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.require_wrk()
    results = []
    with tempfile.TemporaryDirectory(prefix="cashman-bench-") as tmp_name:
        tmp = Path(tmp_name)
        key_holder = harness.make_kit("http://127.0.0.1/")
        with harness.JWKSServer(key_holder.jwks()) as jwks:
            kit = harness.make_kit(jwks.issuer, key=key_holder.key)
            tokens = harness.write_tokens(
                tmp / "writer.txt", [harness.mint(kit, "bench|writer", [WRITE])]
            )
            body = tmp / "body.json"
            body.write_text(json.dumps({"description": "bench income", "amount": 12.34}))
            for db in args.databases.split(","):
                if db == "sqlite":
                    url = f"sqlite:///{tmp / 'writes.db'}"
                    results.append(run_one(args, tmp, jwks, tokens, body, db, url))
                elif db == "postgresql":
                    if not postgres_reachable(args.postgres_url):
                        print(f"postgresql: not reachable at the given URL, skipped ({db})")
                        continue
                    with harness.postgres_database(args.postgres_url, BENCH_DB) as url:
                        results.append(run_one(args, tmp, jwks, tokens, body, db, url))
                else:
                    raise SystemExit(f"unknown database {db!r} (sqlite, postgresql)")
    print(
        f"gunicorn -c gunicorn.conf.py server:app, {args.workers} workers x {args.threads} "
        f"gthread threads, wrk {args.connections} connections, {args.seconds:.0f}s per database"
    )
    harness.save_results(
        "writes-quick" if args.quick else "writes",
        {"machine": harness.machine(), "args": vars(args), "results": results},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
