"""Soak: mixed traffic through the SPEC section 8 topology for 30 minutes (not run in CI).

    .venv/bin/python bench/soak/soak.py                 # 30 minutes
    .venv/bin/python bench/soak/soak.py --minutes 1     # a short check that it works

Starts what ``tests/topology/`` starts (PostgreSQL scratch database, PgBouncer from
``deploy/pgbouncer.ini``, three instances on the production entry with two workers
each, HAProxy from ``deploy/haproxy.cfg``) and sends the topology test's traffic
(``tests/topology/traffic.py``: reads, keyed and unkeyed creates, replays, patches,
deletes, unknown-kid tokens) from ``--users`` threads, loopback only, until the time is
up. Every ``--sample-s`` seconds it records each worker's RSS and the p50/p99 latency
of the requests that ended in that window. At the end it checks every acknowledged
write against the database, writes a JSON file and draws the plots RELIABILITY.md
embeds (``plot.py``). Exit status 1 if a request failed, the database disagrees, or
an instance fetched the key set more often than SPEC section 3 allows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sampling import Window, rss_trend  # noqa: E402 - the script's own directory

from tests.support.processes import rss_kib  # noqa: E402
from tests.topology.cluster import Topology  # noqa: E402
from tests.topology.database import Postgres, check_reachable, scratch_database  # noqa: E402
from tests.topology.instances import SERVE_MODULE  # noqa: E402
from tests.topology.traffic import Traffic  # noqa: E402
from tests.topology.verify import key_problems, ledger_problems, read_rows, stored_keys  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SCOPES = ["read:transactions", "write:transactions"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/soak/soak.py", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="duration (default 30)")
    parser.add_argument("--users", type=int, default=4, help="client threads, one user each")
    parser.add_argument("--workers", type=int, default=2, help="workers per instance")
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds per sample")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"directory (default {RESULTS})")
    parser.add_argument("--name", default="soak", help="file name stem (default soak)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.users < 1 or args.sample_s <= 0:
        parser.error("--minutes and --sample-s must be positive, --users at least 1")
    return args


def worker_rss(topology: Topology) -> dict[str, int]:
    """``"api1 pid 1234" -> RSS KiB`` of every live worker (a replaced one is a new series)."""
    sizes = {}
    for name, instance in topology.instances.items():
        for pid in instance.worker_pids():
            try:
                sizes[f"{name} pid {pid}"] = rss_kib(pid)
            except (OSError, LookupError):
                continue  # exited between the listing and the read
    return sizes


def sample_until(seconds: float, every_s: float, window: Window, topology: Topology) -> list[dict]:
    """One sample every ``every_s`` seconds until ``seconds`` have passed."""
    samples: list[dict] = []
    started = time.monotonic()
    while True:
        time.sleep(max(0.0, started + (len(samples) + 1) * every_s - time.monotonic()))
        elapsed = time.monotonic() - started
        sample = {"t_s": round(elapsed, 1), **window.take(), "rss_kib": worker_rss(topology)}
        samples.append(sample)
        print(
            f"soak: {elapsed:6.0f} s {sample['requests']:6d} requests, "
            f"p50 {sample['p50_ms']} ms, p99 {sample['p99_ms']} ms, {sample['failures']} failed",
            flush=True,
        )
        if elapsed >= seconds:
            return samples


def run(args: argparse.Namespace, workdir: Path) -> dict:
    """The whole soak; the JSON document it writes."""
    server = Postgres.from_env()
    check_reachable(server)
    window = Window()
    with (
        scratch_database(server, "cashman_soak") as database,
        # the production default refresh interval: the fetch bound is the real one
        Topology(workdir, database, workers=args.workers, min_refresh_s=30) as topology,
    ):
        kit = topology.kit
        seconds = args.minutes * 60
        users = [f"soak-{i}" for i in range(args.users)]
        lifetime = seconds + 3600
        tokens = {user: kit.mint(sub=user, scopes=SCOPES, expires_in=lifetime) for user in users}
        traffic = Traffic(
            topology.url,
            tokens,
            lambda: kit.mint(kid=f"kid-{uuid.uuid4().hex}"),
            keep_outcomes=False,
            listener=window.add,
        )
        traffic.phase = "soak"
        # bounded by the deadline (the count only guards against a runaway loop)
        traffic.start(seconds, max_requests_per_user=100_000_000)
        try:
            samples = sample_until(seconds, args.sample_s, window, topology)
        finally:
            traffic.stop()
        rows, keys = read_rows(database), stored_keys(database)
        owner_of = {user: f"{kit.issuer} {user}" for user in users}
        problems = ledger_problems(rows, traffic.ledgers, owner_of)
        problems += key_problems(keys, traffic.ledgers, owner_of)
        jwks = topology.jwks_fetches()
    return {
        "meta": {
            "minutes": args.minutes,
            "users": args.users,
            "instances": len(topology.instances),
            "workers_per_instance": args.workers,
            "threads_per_worker": topology.threads,
            "entry": "python -m cashman.serve" if SERVE_MODULE.exists() else "gunicorn",
            "sample_s": args.sample_s,
            "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "samples": samples,
        "summary": summarize(samples, traffic, rows, problems, jwks),
    }


def summarize(samples, traffic, rows, problems, jwks) -> dict:
    """Totals, failures, the database check, and per worker how RSS moved."""
    rss: dict[str, list[tuple[float, int]]] = {}
    for sample in samples:
        for worker, kib in sample["rss_kib"].items():
            rss.setdefault(worker, []).append((sample["t_s"], kib))
    return {
        "requests": sum(s["requests"] for s in samples),
        "failures": len(traffic.failures()),
        "failure_examples": [f"{o.op} {o.status}" for o in traffic.failures()[:10]],
        "acknowledged_creates": sum(len(ledger.created) for ledger in traffic.ledgers.values()),
        "rows_in_database": len(rows),
        "database_problems": problems[:20],
        "jwks_fetches": jwks,
        "jwks_within_bound": all(row["fetches"] <= row["bound"] for row in jwks),
        "rss_mib": {worker: rss_trend(points) for worker, points in rss.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Run, write ``<out>/<name>.json`` and the plots; 1 if anything failed, was lost, or
    an instance fetched the key set more often than the SPEC allows."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="cashman-soak-"))
    result = run(args, workdir)
    out = args.out / f"{args.name}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    from plot import draw  # matplotlib only once there is something to draw

    pictures = draw(result, args.out, args.name)
    summary = result["summary"]
    print(json.dumps({k: v for k, v in summary.items() if k != "jwks_fetches"}, indent=1))
    print(f"soak: wrote {out}, {', '.join(str(p) for p in pictures)}")
    failed = bool(
        summary["failures"] or summary["database_problems"] or not summary["jwks_within_bound"]
    )
    if failed:
        print(f"soak: FAILED; the processes' logs are in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
