"""Mixed client traffic through the load balancer, with a ledger of what was acknowledged.

One thread per user (so no two threads touch one user's rows) sends list
reads, balances, single reads, ``/secured/ping``, tokens with unknown ``kid``s,
creates with an ``Idempotency-Key`` (a third of them sent again with the same
key, as a client that lost the answer does), creates without one, description
patches and deletes. Every request carries an ``X-Request-ID``; the instances'
request logs then tell which instance served it.

A client behaves as a careful mobile app on a flaky network: a keyed create,
a patch or a delete whose answer is lost (no response, or a 5xx) is sent
again until it gets one; a create without a key cannot be repeated safely,
so its fate is "unknown" and the ledger says so. The ledger is what the
database must hold afterwards. Every loop is bounded in count and time.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import requests

CLIENT_TIMEOUT = (5, 30)
RETRY_ATTEMPTS = 20
RETRY_PAUSE_S = 0.2
REPLAY_SHARE = 0.33
RECENT = 256  # rows a user patches, reads and deletes are among their latest creates


@dataclass
class Created:
    """A create the server acknowledged with a 201."""

    id: int
    kind: str  # "incomes" or "expenses"
    amount: Decimal
    key: str | None
    descriptions: set[str]  # what the row's description may be (one, unless a patch was lost)
    deleted: bool | None = False  # None: a delete was sent and its answer lost


@dataclass
class Ledger:
    """One user's acknowledged writes, keyed by the unique marker in each description."""

    created: dict[str, Created] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)  # creates that never got an answer
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT))


@dataclass
class Outcome:
    """One HTTP exchange as the client saw it."""

    op: str
    phase: str
    status: int | None  # None: no response at all
    expected: bool
    request_id: str
    attempt: int
    started: float  # time.monotonic() when sent
    seconds: float  # until the answer (or the failure)


@dataclass
class Replay:
    """A keyed create sent again: the two request ids and whether it replayed exactly."""

    first_request_id: str
    replay_request_id: str
    same_answer: bool


class Traffic:
    """``clients`` users hammering ``base_url`` until ``stop()``, a deadline or a budget."""

    def __init__(
        self,
        base_url: str,
        tokens: dict[str, str],
        unknown_kid_token: Callable[[], str],
        *,
        seed: int = 13,
        keep_outcomes: bool = True,
        listener: Callable[[Outcome], None] | None = None,
    ) -> None:
        """``tokens``: user -> token with both scopes; ``unknown_kid_token()``: a fresh bad
        kid. ``keep_outcomes=False`` keeps only the failures (a long soak); ``listener``
        sees every exchange as it ends."""
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.unknown_kid_token = unknown_kid_token
        self.seed = seed
        self.phase = "start"
        self.ledgers = {user: Ledger() for user in tokens}
        self.keep_outcomes = keep_outcomes
        self.listener = listener
        self.outcomes: list[Outcome] = []  # every exchange, or only failures (keep_outcomes)
        self.replays: list[Replay] = []
        self.errors: list[str] = []  # why an exchange got no answer (the first 100)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, seconds: float, max_requests_per_user: int = 20_000) -> None:
        deadline = time.monotonic() + seconds
        for index, user in enumerate(self.tokens):
            thread = threading.Thread(
                target=self._run,
                args=(user, random.Random(self.seed + index), deadline, max_requests_per_user),
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, join_s: float = 120.0) -> None:
        """Stop after the requests in flight (each bounded by its timeouts and retries)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=join_s)
        if any(thread.is_alive() for thread in self._threads):
            raise RuntimeError("a client thread did not stop")

    def failures(self, phase: str | None = None) -> list[Outcome]:
        """Exchanges that got no answer, a 5xx or another unexpected status."""
        with self._lock:
            return [o for o in self.outcomes if not o.expected and phase in (None, o.phase)]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per phase: exchanges by ``op status`` (``-`` when there was no response)."""
        table: dict[str, Counter[str]] = {}
        with self._lock:
            for o in self.outcomes:
                label = f"{o.op} {o.status if o.status is not None else '-'}"
                table.setdefault(o.phase, Counter())[label] += 1
        return {phase: dict(sorted(c.items())) for phase, c in table.items()}

    # -- one user's loop --------------------------------------------------------------

    def _run(self, user: str, rng: random.Random, deadline: float, budget: int) -> None:
        session = requests.Session()
        ops = [
            (self._list, 24),
            (self._balance, 6),
            (self._ping, 5),
            (self._unknown_kid, 3),
            (self._get_one, 8),
            (self._create_keyed, 22),
            (self._create_unkeyed, 12),
            (self._patch, 10),
            (self._delete, 6),
        ]
        funcs, weights = zip(*ops, strict=True)
        for _ in range(budget):
            if self._stop.is_set() or time.monotonic() >= deadline:
                return
            rng.choices(funcs, weights)[0](session, rng, user)

    def _send(self, session, op, method, path, user, expected, *, attempt=1, **kwargs):
        """One exchange, recorded: (the response or None when none came, its request id)."""
        request_id = f"{op}-{uuid.uuid4().hex[:16]}"
        headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
        if user is not None and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        phase, started = self.phase, time.monotonic()
        try:
            resp = session.request(
                method, self.base_url + path, headers=headers, timeout=CLIENT_TIMEOUT, **kwargs
            )
        except requests.RequestException as exc:
            resp = None
            if len(self.errors) < 100:
                self.errors.append(f"{request_id}: {type(exc).__name__}: {exc}")
        status = resp.status_code if resp is not None else None
        outcome = Outcome(
            op,
            phase,
            status,
            status in expected,
            request_id,
            attempt,
            started,
            time.monotonic() - started,
        )
        with self._lock:
            if self.keep_outcomes or not outcome.expected:
                self.outcomes.append(outcome)
        if self.listener is not None:
            self.listener(outcome)
        return resp, request_id

    def _until_answered(self, session, op, method, path, user, expected, **kwargs):
        """Send until a non-5xx answer arrives (bounded): (final response or None, request id)."""
        request_id = ""
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            resp, request_id = self._send(
                session, op, method, path, user, expected, attempt=attempt, **kwargs
            )
            if resp is not None and resp.status_code < 500:
                return resp, request_id
            time.sleep(RETRY_PAUSE_S)
        return None, request_id

    def _list(self, session, rng, user):
        path = rng.choice(["/incomes", "/expenses", "/transactions"])
        self._send(session, "list", "GET", f"{path}?limit={rng.randint(1, 100)}", user, (200,))

    def _balance(self, session, rng, user):
        self._send(session, "balance", "GET", "/balance", user, (200,))

    def _ping(self, session, rng, user):
        self._send(session, "secured_ping", "GET", "/secured/ping", user, (200,))

    def _unknown_kid(self, session, rng, user):
        headers = {"Authorization": f"Bearer {self.unknown_kid_token()}"}
        self._send(session, "unknown_kid", "GET", "/secured/ping", None, (401,), headers=headers)

    def _pick(self, rng, user) -> tuple[str, Created] | None:
        ledger = self.ledgers[user]
        live = [m for m in ledger.recent if ledger.created[m].deleted is False]
        if not live:
            return None
        marker = rng.choice(live)
        return marker, ledger.created[marker]

    def _get_one(self, session, rng, user):
        picked = self._pick(rng, user)
        if picked is not None:
            _, row = picked
            self._send(session, "get", "GET", f"/{row.kind}/{row.id}", user, (200,))

    def _body(self, rng) -> tuple[str, str, dict]:
        marker = f"m-{uuid.uuid4().hex}"
        kind = rng.choice(["incomes", "expenses"])
        # a JSON number with two decimals, as a client writes it
        return marker, kind, {"description": marker, "amount": rng.randint(1, 10_000_000) / 100}

    def _create_keyed(self, session, rng, user):
        marker, kind, body = self._body(rng)
        key = str(uuid.uuid4())
        headers = {"Idempotency-Key": key}
        resp, first_id = self._until_answered(
            session, "create_keyed", "POST", f"/{kind}", user, (201,), json=body, headers=headers
        )
        if resp is None or resp.status_code != 201:
            with self._lock:  # never answered: its row may or may not exist
                self.ledgers[user].unknown.add(marker)
            return
        self._acknowledge(user, marker, kind, resp, key)
        if rng.random() < REPLAY_SHARE:
            again, replay_id = self._until_answered(
                session, "replay", "POST", f"/{kind}", user, (201,), json=body, headers=headers
            )
            # the first answer, byte for byte: same id, same body (SPEC section 4)
            same = again is not None and again.status_code == 201 and again.text == resp.text
            with self._lock:
                self.replays.append(Replay(first_id, replay_id, same))

    def _create_unkeyed(self, session, rng, user):
        marker, kind, body = self._body(rng)
        resp, _ = self._send(session, "create_unkeyed", "POST", f"/{kind}", user, (201,), json=body)
        if resp is not None and resp.status_code == 201:
            self._acknowledge(user, marker, kind, resp, None)
        elif resp is None or resp.status_code >= 500:
            with self._lock:
                self.ledgers[user].unknown.add(marker)

    def _acknowledge(self, user, marker, kind, resp, key) -> Created:
        data = resp.json(parse_float=Decimal)
        created = Created(data["id"], kind, data["amount"], key, {data["description"]})
        with self._lock:
            self.ledgers[user].created[marker] = created
            self.ledgers[user].recent.append(marker)
        return created

    def _patch(self, session, rng, user):
        picked = self._pick(rng, user)
        if picked is None:
            return
        marker, row = picked
        description = f"{marker} p{rng.randint(0, 999)}"
        resp, _ = self._until_answered(
            session,
            "patch",
            "PATCH",
            f"/{row.kind}/{row.id}",
            user,
            (200,),
            json={"description": description},
        )
        with self._lock:
            if resp is not None and resp.status_code == 200:
                row.descriptions = {description}
            else:  # never answered: either description may be stored
                row.descriptions.add(description)

    def _delete(self, session, rng, user):
        picked = self._pick(rng, user)
        if picked is None:
            return
        _, row = picked
        # 404: a repeat of a DELETE whose first answer was lost (HAProxy may repeat it,
        # RFC 9110 section 9.2.2), the first one did it; only this user deletes these rows
        first, _ = self._send(
            session, "delete", "DELETE", f"/{row.kind}/{row.id}", user, (204, 404)
        )
        if first is not None and first.status_code < 500:
            row.deleted = first.status_code in (204, 404)
            return
        # the answer was lost: a repeat says where things stand (404: the first one did it)
        again, _ = self._until_answered(
            session, "delete_retry", "DELETE", f"/{row.kind}/{row.id}", user, (204, 404)
        )
        row.deleted = True if again is not None and again.status_code in (204, 404) else None
