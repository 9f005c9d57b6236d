"""Part 2 of ``bench_dpop.py``: DPoP's parts in process, no HTTP (BENCHMARKS.md section 8).

Per operation, median over rounds of the per-round mean: (a) ``DPoPVerifier.verify`` of
a fresh ES256 proof from a known client key (in-process replay store), (b) the same
from a key never seen before, (c) a bare ``cryptography`` ES256 verify of the same
proofs, (d) ``DatabaseReplayStore.record`` on SQLite, (e) the same on PostgreSQL when a
server is given (a throw-away schema). CPU is ``time.process_time`` (this process only).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
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
