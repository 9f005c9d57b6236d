"""Soak traffic: a bounded mix of what real clients and attackers send, with a ledger.

Each client thread sends reads, writes (every POST with an ``Idempotency-Key``,
some retried with the same key, as a mobile app on a flaky network does),
patches, deletes, invalid and expired tokens and CORS preflights. What the
server acknowledged is written down, so the test can check afterwards that
every acknowledged write is in the database and every balance is exact.
The loop is bounded by a deadline and by a request count, and talks only to
the loopback address it is given.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import requests

CLIENT_TIMEOUT = (5, 30)  # generous: the soak asserts answers arrive, not how fast


@dataclass
class Ledger:
    """What the server acknowledged, per owner: ids created (and not deleted) and amounts."""

    rows: dict[str, dict[int, Decimal]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, owner: str, tx_id: int, amount: Decimal) -> None:
        with self.lock:
            self.rows.setdefault(owner, {})[tx_id] = amount

    def drop(self, owner: str, tx_id: int) -> None:
        with self.lock:
            self.rows.get(owner, {}).pop(tx_id, None)

    def pick(self, owner: str, rng: random.Random) -> int | None:
        with self.lock:
            ids = list(self.rows.get(owner, {}))
        return rng.choice(ids) if ids else None


@dataclass
class Stats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    ops: Counter[str] = field(default_factory=Counter)
    writes_acknowledged: int = 0
    retries_replayed: int = 0
    deletes_acknowledged: int = 0
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def note(self, op: str, resp: requests.Response, expected: tuple[int, ...]) -> None:
        with self.lock:
            self.requests += 1
            self.ops[op] += 1
            self.statuses[resp.status_code] += 1
            if resp.status_code not in expected and len(self.unexpected) < 20:
                self.unexpected.append(f"{op}: {resp.status_code} {resp.text[:200]}")


@dataclass
class Tokens:
    """Bearer tokens per owner, and the attacker's ones."""

    valid: dict[str, str]  # owner -> token with both scopes
    expired: str
    forged: str  # right kid, signed by another key
    unknown_kid: Callable[[], str]  # a fresh random kid each time: must not flood the issuer


class Soak:
    """Run ``clients`` threads against ``base_url`` until ``seconds`` or ``max_requests``."""

    def __init__(self, base_url: str, tokens: Tokens, origin: str, seed: int = 1234) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.origin = origin
        self.seed = seed
        self.ledger = Ledger()
        self.stats = Stats()

    def run(self, seconds: float, clients: int = 4, max_requests: int = 200_000) -> Stats:
        deadline = time.monotonic() + seconds
        budget = max_requests // clients
        threads = [
            threading.Thread(target=self._client, args=(i, deadline, budget), daemon=True)
            for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 120)
        return self.stats

    def _client(self, index: int, deadline: float, budget: int) -> None:
        rng = random.Random(self.seed + index)
        session = requests.Session()
        owners = sorted(self.tokens.valid)
        ops = [
            (self._list, 30),
            (self._balance, 8),
            (self._create, 25),
            (self._get_one, 8),
            (self._patch, 5),
            (self._delete, 3),
            (self._bad_token, 8),
            (self._expired_token, 5),
            (self._unknown_kid, 2),
            (self._preflight, 5),
            (self._ping, 1),
        ]
        funcs, weights = zip(*ops, strict=True)
        for _ in range(budget):
            if time.monotonic() >= deadline:
                return
            op = rng.choices(funcs, weights)[0]
            op(session, rng, rng.choice(owners))

    def _auth(self, owner: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.valid[owner]}"}

    def _list(self, s: requests.Session, rng: random.Random, owner: str) -> None:
        path = rng.choice(["/incomes", "/expenses", "/transactions"])
        resp = s.get(
            f"{self.base_url}{path}",
            params={"limit": rng.randint(1, 100)},
            headers=self._auth(owner),
            timeout=CLIENT_TIMEOUT,
        )
        self.stats.note("list", resp, (200,))

    def _balance(self, s: requests.Session, rng: random.Random, owner: str) -> None:
        resp = s.get(f"{self.base_url}/balance", headers=self._auth(owner), timeout=CLIENT_TIMEOUT)
        self.stats.note("balance", resp, (200,))

    def _create(self, s: requests.Session, rng: random.Random, owner: str) -> None:
        kind = rng.choice(["incomes", "expenses"])
        cents = rng.randint(1, 10_000_000)
        # a JSON number with two decimals, as a client writes it (the server must not round it)
        body = {"description": f"soak {uuid.uuid4().hex[:8]}", "amount": cents / 100}
        headers = {**self._auth(owner), "Idempotency-Key": str(uuid.uuid4())}
        url = f"{self.base_url}/{kind}"
        resp = s.post(url, json=body, headers=headers, timeout=CLIENT_TIMEOUT)
        self.stats.note("create", resp, (201,))
        if resp.status_code != 201:
            return
        created = resp.json(parse_float=Decimal)
        amount = created["amount"]
        self.ledger.put(owner, created["id"], amount)
        with self.stats.lock:
            self.stats.writes_acknowledged += 1
        if rng.random() < 0.3:  # the answer "got lost": retry with the same key and body
            again = s.post(url, json=body, headers=headers, timeout=CLIENT_TIMEOUT)
            self.stats.note("retry", again, (201,))
            if again.status_code == 201 and again.json().get("id") == created["id"]:
                with self.stats.lock:
                    self.stats.retries_replayed += 1
            elif again.status_code == 201:
                with self.stats.lock:
                    self.stats.unexpected.append(f"retry created a second row: {again.text}")

    def _get_one(self, s: requests.Session, rng: random.Random, owner: str) -> None:
        tx_id = self.ledger.pick(owner, rng)
        if tx_id is None:
            return
        kind, _ = self._kind_of(owner, tx_id)
        resp = s.get(
            f"{self.base_url}/{kind}/{tx_id}", headers=self._auth(owner), timeout=CLIENT_TIMEOUT
        )
        self.stats.note("get", resp, (200, 404))

    def _patch(self, s: requests.Session, rng: random.Random, owner: str) -> None:
        tx_id = self.ledger.pick(owner, rng)
        if tx_id is None:
            return
        kind, _ = self._kind_of(owner, tx_id)
        resp = s.patch(
            f"{self.base_url}/{kind}/{tx_id}",
            json={"description": f"patched {rng.randint(0, 999)}"},
            headers=self._auth(owner),
            timeout=CLIENT_TIMEOUT,
        )
        # 404: a concurrent client of the same owner deleted it meanwhile
        self.stats.note("patch", resp, (200, 404))

    def _delete(self, s: requests.Session, rng: random.Random, owner: str) -> None:
        tx_id = self.ledger.pick(owner, rng)
        if tx_id is None:
            return
        kind, _ = self._kind_of(owner, tx_id)
        self.ledger.drop(owner, tx_id)  # before the request: a concurrent reader must not count it
        resp = s.delete(
            f"{self.base_url}/{kind}/{tx_id}", headers=self._auth(owner), timeout=CLIENT_TIMEOUT
        )
        self.stats.note("delete", resp, (204, 404))
        if resp.status_code == 204:
            with self.stats.lock:
                self.stats.deletes_acknowledged += 1

    def _kind_of(self, owner: str, tx_id: int) -> tuple[str, Decimal]:
        with self.ledger.lock:
            amount = self.ledger.rows.get(owner, {}).get(tx_id, Decimal(0))
        return ("expenses" if amount < 0 else "incomes"), amount

    def _bad_token(self, s: requests.Session, rng: random.Random, owner: str) -> None:
        token = rng.choice([self.tokens.forged, "not.a.jwt", self.tokens.valid[owner][:-4]])
        resp = s.get(
            f"{self.base_url}/balance",
            headers={"Authorization": f"Bearer {token}"},
            timeout=CLIENT_TIMEOUT,
        )
        self.stats.note("bad_token", resp, (401,))

    def _expired_token(self, s: requests.Session, rng: random.Random, owner: str) -> None:
        resp = s.post(
            f"{self.base_url}/incomes",
            json={"description": "late", "amount": "1.00"},
            headers={"Authorization": f"Bearer {self.tokens.expired}"},
            timeout=CLIENT_TIMEOUT,
        )
        self.stats.note("expired", resp, (401,))

    def _unknown_kid(self, s: requests.Session, rng: random.Random, owner: str) -> None:
        resp = s.get(
            f"{self.base_url}/secured/ping",
            headers={"Authorization": f"Bearer {self.tokens.unknown_kid()}"},
            timeout=CLIENT_TIMEOUT,
        )
        self.stats.note("unknown_kid", resp, (401,))

    def _preflight(self, s: requests.Session, rng: random.Random, owner: str) -> None:
        resp = s.options(
            f"{self.base_url}/{rng.choice(['incomes', 'expenses', 'balance'])}",
            headers={
                "Origin": self.origin,
                "Access-Control-Request-Method": rng.choice(["GET", "POST", "PATCH", "DELETE"]),
                "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
            },
            timeout=CLIENT_TIMEOUT,
        )
        self.stats.note("preflight", resp, (200, 204))
        if resp.headers.get("Access-Control-Allow-Origin") != self.origin:
            with self.stats.lock:
                self.stats.unexpected.append(f"preflight without CORS headers: {resp.headers}")

    def _ping(self, s: requests.Session, rng: random.Random, owner: str) -> None:
        resp = s.get(f"{self.base_url}/ping", timeout=CLIENT_TIMEOUT)
        self.stats.note("ping", resp, (200,))
