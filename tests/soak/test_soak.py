"""Bounded soak: the production server (2 workers) under mixed load for ``SOAK_SECONDS``.

Checks what a long run would reveal: no 5xx at all; every acknowledged write
is in the database (rows counted by SQL, balances exact to the cent); retried
POSTs replay instead of duplicating; worker memory does not grow without bound
(growth is reported, only a generous ceiling is asserted); JWKS fetches stay
bounded however many invalid and unknown-``kid`` tokens arrive. Loopback only;
the load stops by itself at the deadline or the request budget. The figures
are printed for RELIABILITY.md (run with ``-s`` to see them).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import uuid
from decimal import Decimal

import pytest
import requests

from auth.testing import AuthKit, shared_rsa_key
from tests.faults.issuer import FaultyIssuer
from tests.soak.driver import Soak, Tokens
from tests.support.live import LiveServer
from tests.support.processes import rss_kib

pytestmark = pytest.mark.slow

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "90"))
SOAK_CLIENTS = int(os.environ.get("SOAK_CLIENTS", "4"))
WORKERS = 2
MIN_REFRESH_S = 10
ORIGIN = "https://app.cashman.test"
OWNERS = ["alice", "bob", "carol"]
MAX_RSS_GROWTH_KIB = 50 * 1024


def _tokens(kit: AuthKit) -> Tokens:
    all_scopes = ["read:transactions", "write:transactions"]
    return Tokens(
        valid={sub: kit.mint(sub=sub, scopes=all_scopes, expires_in=3600) for sub in OWNERS},
        expired=kit.mint(sub="alice", scopes=all_scopes, expires_in=-3600),
        forged=kit.mint(sub="alice", scopes=all_scopes, key=shared_rsa_key(7)),
        unknown_kid=lambda: kit.mint(sub="alice", kid=f"kid-{uuid.uuid4().hex}"),
    )


def _page_all(url: str, token: str) -> list[dict]:
    """Every transaction of the caller, following ``Link: rel="next"`` (bounded)."""
    rows, next_url = [], f"{url}/transactions?limit=500"
    for _ in range(10_000):
        resp = requests.get(next_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert resp.status_code == 200, resp.text
        rows.extend(resp.json())
        if "next" not in resp.links:
            return rows
        next_url = resp.links["next"]["url"]
        if next_url.startswith("/"):
            next_url = url + next_url
    raise AssertionError("paging did not end")


def test_soak_mixed_load_loses_nothing_and_stays_bounded(tmp_path):
    kit0 = AuthKit()
    with FaultyIssuer(kit0.jwks()) as issuer:
        kit = AuthKit(issuer=issuer.issuer)
        db = tmp_path / "cashman.db"
        env = {
            "AUTH0_ISSUER": issuer.issuer,
            "API_AUDIENCE": kit.audience,
            "DATABASE_URL": f"sqlite:///{db}",
            "CORS_ORIGINS": ORIGIN,
            "JWKS_MIN_REFRESH_INTERVAL": str(MIN_REFRESH_S),
            "GUNICORN_LOGLEVEL": "warning",
        }
        with LiveServer(env, tmp_path / "gunicorn.log", workers=WORKERS) as server:
            soak = Soak(server.url, _tokens(kit), ORIGIN)
            # warm-up, so the memory baseline includes imports, pools and caches
            soak.run(seconds=min(5.0, SOAK_SECONDS / 10), clients=SOAK_CLIENTS)
            pids = server.worker_pids()
            rss_start = {pid: rss_kib(pid) for pid in pids}
            stats = soak.run(seconds=SOAK_SECONDS, clients=SOAK_CLIENTS)
            rss_end = {pid: rss_kib(pid) for pid in server.worker_pids()}
            listed = {sub: _page_all(server.url, soak.tokens.valid[sub]) for sub in OWNERS}
            balances = {
                sub: requests.get(
                    f"{server.url}/balance",
                    headers={"Authorization": f"Bearer {soak.tokens.valid[sub]}"},
                    timeout=30,
                ).json(parse_float=Decimal)
                for sub in OWNERS
            }
            log_tail = server.output()
        fetches = issuer.fetches

    with sqlite3.connect(db) as conn:
        db_rows = conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
    expected = {sub: soak.ledger.rows.get(sub, {}) for sub in OWNERS}
    figures = {
        "seconds": SOAK_SECONDS,
        "requests": stats.requests,
        "by_operation": dict(stats.ops),
        "statuses": dict(sorted(stats.statuses.items())),
        "5xx": stats.server_errors,
        "writes_acknowledged": stats.writes_acknowledged,
        "retries_replayed": stats.retries_replayed,
        "deletes_acknowledged": stats.deletes_acknowledged,
        "rows_expected": sum(len(v) for v in expected.values()),
        "rows_in_database": db_rows,
        "rss_kib_start": rss_start,
        "rss_kib_end": rss_end,
        "jwks_fetches": fetches,
    }
    print("\nSOAK " + json.dumps(figures))

    assert stats.server_errors == 0, (stats.unexpected, log_tail)
    assert stats.unexpected == [], stats.unexpected
    assert stats.writes_acknowledged > 0 and stats.retries_replayed > 0
    assert set(rss_end) == set(rss_start), "a worker died and was replaced"
    for sub in OWNERS:
        ids = {row["id"] for row in listed[sub]}
        assert ids == set(expected[sub]), f"{sub}: acknowledged rows missing or extra"
        total = sum(expected[sub].values(), Decimal(0))
        assert balances[sub]["balance"] == total
    assert db_rows == figures["rows_expected"]
    for pid in rss_start:
        assert rss_end[pid] - rss_start[pid] < MAX_RSS_GROWTH_KIB, figures
    # one fetch per worker at start, then at most one per JWKS_MIN_REFRESH_INTERVAL each
    total_s = SOAK_SECONDS + 10
    assert fetches <= WORKERS * (1 + math.ceil(total_s / MIN_REFRESH_S)), figures
