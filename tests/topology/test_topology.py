"""SPEC section 8: three instances behind HAProxy over PgBouncer, one killed, the others restarted.

The scenario runs once for the module (``run``), with four users' traffic
(``traffic.py``) flowing through HAProxy the whole time:

1. ``steady``: all three instances up.
2. ``kill``: api1 gets SIGKILL (master and workers), then is started again.
   What a client sees: a request in flight on api1 that HAProxy may repeat
   (GET, DELETE, a POST with an ``Idempotency-Key``) is repeated on another
   instance and answered; one it must not repeat (a POST without a key, a
   PATCH) ends with the connection closed and no answer, the client cannot
   know whether it was applied. The keyed client sends it again and gets the
   first answer; the unkeyed one is "unknown" in the ledger. New requests go
   to api2 and api3 (HAProxy takes api1 out at the first refused connection).
3. ``rolling``: api2, then api3: SIGTERM, wait for the exit, start, wait until
   HAProxy has it back. What a client sees: nothing but answers.
4. ``after``: all three up again.

The tests below then check what the database holds against what the clients
were told, and what each instance fetched from the issuer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from tests.topology.cluster import Topology
from tests.topology.database import Postgres, scratch_database
from tests.topology.traffic import Traffic
from tests.topology.verify import (
    Row,
    key_problems,
    ledger_problems,
    read_rows,
    stored_keys,
)

pytestmark = pytest.mark.slow

USERS = ("alice", "bob", "carol", "dave")
SCOPES = ["read:transactions", "write:transactions"]
TRAFFIC_DEADLINE_S = 180  # a bound: the scenario stops the traffic well before
STEADY_S = 4.0
KILLED_FOR_S = 3.0
# requests sent before a phase began are answered by then (each takes milliseconds)
SETTLE_S = 1.0
ROLLING = ("api2", "api3")
# ops HAProxy repeats on another instance when the answer is lost (deploy/haproxy.cfg):
# all but a POST without Idempotency-Key ("create_unkeyed") and a PATCH
RETRIED_BY_HAPROXY = {
    "list",
    "balance",
    "secured_ping",
    "unknown_kid",
    "get",
    "create_keyed",
    "replay",
    "delete",
    "delete_retry",
}


@dataclass
class Run:
    topology: Topology
    traffic: Traffic
    owner_of: dict[str, str]
    rows: list[Row]
    keys: dict[tuple[str, str], int]
    served_by: dict[str, str]
    restarts: dict[str, dict[str, float]]
    direct_replay: list[requests.Response] = field(default_factory=list)


@pytest.fixture(scope="module")
def run(postgres_server, topology_programs, tmp_path_factory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("topology")
    with scratch_database(postgres_server) as database, Topology(workdir, database) as topology:
        yield _scenario(topology, database)


def _scenario(topology: Topology, database: Postgres) -> Run:
    kit = topology.kit
    tokens = {user: kit.mint(sub=user, scopes=SCOPES, expires_in=3600) for user in USERS}
    traffic = Traffic(topology.url, tokens, lambda: kit.mint(kid=f"kid-{uuid.uuid4().hex}"))
    restarts: dict[str, dict[str, float]] = {}
    traffic.phase = "steady"
    traffic.start(TRAFFIC_DEADLINE_S)
    try:
        time.sleep(STEADY_S)
        traffic.phase = "kill"
        time.sleep(SETTLE_S)
        topology.kill("api1")
        time.sleep(KILLED_FOR_S)
        restarts["api1 (after SIGKILL)"] = topology.bring_back("api1")
        traffic.phase = "rolling"
        time.sleep(SETTLE_S)
        for name in ROLLING:
            restarts[name] = topology.restart(name)
        time.sleep(SETTLE_S)
        traffic.phase = "after"
        time.sleep(SETTLE_S)
    finally:
        traffic.stop()
    result = Run(
        topology=topology,
        traffic=traffic,
        owner_of={user: f"{kit.issuer} {user}" for user in USERS},
        rows=[],
        keys={},
        served_by={},
        restarts=restarts,
        direct_replay=_replay_on_each_instance(topology, tokens["alice"]),
    )
    result.rows = read_rows(database)
    result.keys = stored_keys(database)
    result.served_by = topology.served_by()
    print("\nTOPOLOGY " + json.dumps({"phases": traffic.counts(), "restarts": restarts}))
    return result


def _replay_on_each_instance(topology: Topology, token: str) -> list[requests.Response]:
    """One keyed create sent to api1, then the same to api2 and api3 directly."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    body = {"description": "across instances", "amount": 42.5}
    return [
        requests.post(f"{instance.url}/incomes", json=body, headers=headers, timeout=30)
        for instance in topology.instances.values()
    ]


def test_every_acknowledged_write_is_stored_exactly_once(run):
    """201s, patches (200) and deletes (204) the clients got are exactly what is stored."""
    ledgers = run.traffic.ledgers
    assert sum(len(ledger.created) for ledger in ledgers.values()) > 100
    traffic_rows = [row for row in run.rows if row.description != "across instances"]
    assert ledger_problems(traffic_rows, ledgers, run.owner_of) == []
    assert key_problems(run.keys, ledgers, run.owner_of) == []


def test_a_keyed_retry_replays_on_another_instance(run):
    """The same Idempotency-Key answers the first response on every instance; one row."""
    answers = run.direct_replay
    assert [resp.status_code for resp in answers] == [201, 201, 201]
    assert len({resp.text for resp in answers}) == 1
    assert len([row for row in run.rows if row.description == "across instances"]) == 1
    # through HAProxy too: the repeats that reached another instance than the first
    replays = run.traffic.replays
    assert replays and all(replay.same_answer for replay in replays)
    elsewhere = [
        r
        for r in replays
        if run.served_by.get(r.first_request_id, "?").split("/")[0]
        != run.served_by.get(r.replay_request_id, "?").split("/")[0]
    ]
    assert len(elsewhere) >= len(replays) // 3, (len(elsewhere), len(replays))


def test_no_request_fails_while_all_instances_run(run):
    """Outside the kill and the restarts, every answer is the expected one."""
    assert run.traffic.failures("steady") == []
    assert run.traffic.failures("after") == []


def test_no_repeatable_request_fails_during_the_rolling_restart(run):
    """Whatever the entry, HAProxy repeats elsewhere what it may: reads, deletes, keyed POSTs."""
    failures = run.traffic.failures("rolling")
    assert [f for f in failures if f.op in RETRIED_BY_HAPROXY] == []


def test_no_request_fails_during_the_rolling_restart(run):
    """SIGTERM drains, HAProxy routes around: a rolling restart costs clients nothing."""
    failures = run.traffic.failures("rolling")
    why = [e for e in run.traffic.errors if any(e.startswith(f.request_id) for f in failures)]
    assert failures == [], why


def test_the_rolling_restart_completes(run):
    """Each instance stops well within its grace period and is back in rotation."""
    for name in ROLLING:
        assert run.restarts[name]["stop_s"] < 30, run.restarts
    # the rows HAProxy saw: every instance up again at the end
    assert set(run.topology.haproxy.server_states().values()) == {"UP"}


def test_a_sigkill_costs_only_unrepeatable_requests_in_flight(run):
    """Killed mid-traffic, an instance loses at most one request per client, never a keyed one."""
    failures = run.traffic.failures("kill")
    assert len(failures) <= len(USERS), failures
    assert [f for f in failures if f.op in RETRIED_BY_HAPROXY] == []
    # the keyed creates of the kill phase all ended with their 201
    keyed = [o for o in run.traffic.outcomes if o.phase == "kill" and o.op == "create_keyed"]
    assert any(o.status == 201 for o in keyed)


def test_jwks_fetches_stay_bounded_per_instance(run):
    """Each instance process fetched the key set at start and at most once per refresh
    interval per worker after, however many unknown kids arrived."""
    rows = run.topology.jwks_fetches()
    unknown_kids = sum(1 for o in run.traffic.outcomes if o.op == "unknown_kid")
    assert unknown_kids > 20
    for row in rows:
        assert 1 <= row["fetches"] <= row["bound"], rows


def test_a_dpop_proof_replayed_to_another_instance_is_refused(run):
    """A proof accepted by api1 is refused by api2: the jti store is shared."""
    from auth.testing import DPoPKey, dpop_headers  # the DPoP test kit

    client = DPoPKey()
    token = client.mint_bound(run.topology.kit, sub="dpop-user", scopes=SCOPES)
    # htu is API_BASE_URL (HAProxy) joined with the path, whichever instance answers
    proof = client.proof("GET", f"{run.topology.url}/incomes", token)
    instances = run.topology.instances
    first = requests.get(
        f"{instances['api1'].url}/incomes", headers=dpop_headers(token, proof), timeout=30
    )
    assert first.status_code == 200, first.text
    replayed = requests.get(
        f"{instances['api2'].url}/incomes", headers=dpop_headers(token, proof), timeout=30
    )
    assert (replayed.status_code, replayed.json()["code"]) == (401, "invalid_dpop_proof")
