"""Keyset paging cost: the first page against a page ~100 000 rows deep.

Why: the SPEC says paging cost must not grow with the offset. With keyset
paging (``(created_at, id) < cursor`` on the owner-first index) a deep page
is one index range scan, like the first; with OFFSET it would read every
row before it. This script fills one user's transactions (other users' rows
mixed in), then times ``cashman.listing.page`` for the first page and for
the page at the cursor of the row at the chosen depth, interleaved in
rounds so machine noise hits both alike, and prints the medians and the
deep/first ratio (about 1 means "does not grow"). It also prints the
database's plan for the deep page.

    python bench/bench_paging.py                         # SQLite, 100 000 rows
    python bench/bench_paging.py --database-url postgresql+psycopg://.../db
    python bench/bench_paging.py --quick                 # CI smoke: seconds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from sqlalchemy import create_engine, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from cashman import listing, storage  # noqa: E402
from cashman.database import Database  # noqa: E402
from cashman.migrate import upgrade  # noqa: E402
from cashman.models import Kind, Transaction  # noqa: E402
from cashman.paging import Cursor  # noqa: E402

OWNER = "bench|target-user"
BATCH = 5_000
PAGE = 50


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the measured user")
    parser.add_argument("--others", type=float, default=0.5, help="other users' rows per row")
    parser.add_argument("--depth", type=int, help="depth of the deep page (default: rows - 100)")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--calls", type=int, default=20, help="calls per variant per round")
    parser.add_argument("--quick", action="store_true", help="small and fast, for CI")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.rounds, args.calls = min(args.rows, 3_000), 5, 5
    args.depth = min(args.depth or args.rows - 100, args.rows - PAGE - 1)
    if args.depth < 1:
        parser.error("--rows is too small")
    return args


@contextmanager
def scratch_database(url: str | None) -> Iterator[str]:
    """A SQLite file in a temporary directory, or a throw-away PostgreSQL schema."""
    if url is None:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'bench.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def fill(db: Database, rows: int, others_ratio: float) -> None:
    """Insert ``rows`` for OWNER and others' rows between them, in bulk, oldest first."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    other_every = max(1, round(1 / others_ratio)) if others_ratio > 0 else 0
    batch: list[dict[str, object]] = []
    step = 0
    for n in range(rows):
        owners = [OWNER]
        if other_every and n % other_every == 0:
            owners.append(f"bench|other-{n % 97}")
        for owner in owners:
            step += 1
            kind = Kind.EXPENSE if n % 4 == 0 else Kind.INCOME
            amount = Decimal(n % 10_000 + 1) / 100
            batch.append(
                {
                    "owner": owner,
                    "kind": kind.value,
                    "description": f"row {n}",
                    "amount": storage.signed(kind, amount),
                    "created_at": start + timedelta(milliseconds=step),
                }
            )
        if len(batch) >= BATCH:
            _insert(db, batch)
            batch = []
    if batch:
        _insert(db, batch)


def _insert(db: Database, batch: list[dict[str, object]]) -> None:
    with db.writing() as session:
        session.execute(insert(Transaction), batch)


def cursor_at(db: Database, depth: int) -> Cursor:
    """The cursor a client holds after reading ``depth`` rows (set-up only: uses OFFSET)."""
    stmt = (
        select(Transaction.created_at, Transaction.id)
        .where(Transaction.owner == OWNER)
        .order_by(Transaction.created_at.desc(), Transaction.id.desc())
        .offset(depth - 1)
        .limit(1)
    )
    with db.reading() as session:
        created_at, row_id = session.execute(stmt).one()
    return Cursor(created_at, row_id)


def plan(db: Database, cursor: Cursor) -> str:
    """The database's plan for the deep page, to show the index range scan."""
    query = (
        "SELECT * FROM transactions WHERE owner = :o AND (created_at, id) < (:c, :i) "
        "ORDER BY created_at DESC, id DESC LIMIT 51"
    )
    if db.engine.dialect.name == "sqlite":
        sql = "EXPLAIN QUERY PLAN " + query
        bind = {"c": cursor.created_at.replace(tzinfo=None).isoformat(sep=" ")}
    else:
        sql = "EXPLAIN " + query
        bind = {"c": cursor.created_at}
    with db.engine.connect() as connection:
        rows = connection.execute(text(sql), {"o": OWNER, "i": cursor.id, **bind}).all()
    return "\n".join("    " + " ".join(str(col) for col in row) for row in rows)


def timed(call: Callable[[], object], calls: int) -> float:
    """Mean seconds per call over ``calls`` calls."""
    begin = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - begin) / calls


def main() -> int:
    args = parse_args()
    with scratch_database(args.database_url) as url:
        db = Database(url)
        upgrade(db.engine)
        app = Flask("bench_paging")
        app.extensions["cashman.db"] = db
        with app.app_context():
            began = time.perf_counter()
            fill(db, args.rows, args.others)
            filled_s = time.perf_counter() - began
            deep_cursor = cursor_at(db, args.depth)
            first_rows, _ = listing.page(OWNER, None, PAGE)
            deep_rows, _ = listing.page(OWNER, None, PAGE, deep_cursor)
            assert len(first_rows) == len(deep_rows) == PAGE
            variants = {
                "first": lambda: listing.page(OWNER, None, PAGE),
                "deep": lambda: listing.page(OWNER, None, PAGE, deep_cursor),
            }
            samples: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(args.rounds):
                for name, call in variants.items():
                    samples[name].append(timed(call, args.calls))
            query_plan = plan(db, deep_cursor)
        db.dispose()
    first = statistics.median(samples["first"])
    deep = statistics.median(samples["deep"])
    print(f"backend      {make_url(url).get_backend_name()}")
    print(f"rows         {args.rows} for the user (+ others mixed in), filled in {filled_s:.1f} s")
    print(f"page         {PAGE} rows; deep page starts after row {args.depth}")
    print(f"rounds       {args.rounds} x {args.calls} calls per variant, interleaved")
    print(f"first page   median {first * 1e6:8.0f} us")
    print(f"deep page    median {deep * 1e6:8.0f} us")
    print(f"ratio        deep/first = {deep / first:.2f}")
    print(f"plan of the deep page:\n{query_plan}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
