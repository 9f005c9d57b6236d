"""DPoP replay across real processes: 2 workers of one server, 2 instances on one database.

Production servers (granian and gunicorn) run as users start them, on SQLite and, with
``TEST_POSTGRES_URL``, on PostgreSQL (``database_url``: a file, or a schema of its own).
``API_BASE_URL`` is the one public URL clients sign their proofs for, whichever worker
or instance answers. That both workers of a server answered is witnessed by the JWKS
server: each worker process fetches the key set once, when it first verifies a token,
and a replayed proof reaches the replay check only after its token was verified.
"""

from __future__ import annotations

import http.client
import json

import pytest
import requests

from auth.testing import DPoPKey, dpop_headers
from tests.support.live import LiveServer, live_issuer
from tests.support.processes import SERVERS

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PUBLIC = "http://localhost:8080"  # what clients call (a load balancer, say)
SCOPES = ["read:transactions", "write:transactions"]
SECRET = "n" * 32
MAX_REPLAYS = 100


@pytest.fixture
def issuer():
    with live_issuer() as running:
        yield running


@pytest.fixture
def server_env(issuer, database_url):
    return {
        **issuer.env(),
        "DATABASE_URL": database_url,
        "API_BASE_URL": PUBLIC,
        "AUTH_DPOP_NONCE_SECRET": SECRET,
    }


def get(server: LiveServer, headers: dict[str, str]) -> requests.Response:
    # a new connection per request: the kernel spreads them over the workers
    with requests.Session() as session:
        return session.get(f"{server.url}/incomes", headers=headers, timeout=30)


def nonce_of(server: LiveServer, key: DPoPKey, token: str) -> str:
    first = get(server, dpop_headers(token, key.proof("GET", f"{PUBLIC}/incomes", token)))
    assert (first.status_code, first.json()["code"]) == (401, "use_dpop_nonce")
    return first.headers["DPoP-Nonce"]


@pytest.mark.parametrize("kind", SERVERS)
def test_a_proof_is_accepted_once_across_the_workers_of_a_server(
    kind, issuer, server_env, tmp_path
):
    key = DPoPKey()
    token = key.mint_bound(issuer.kit, scopes=SCOPES, expires_in=600)
    with LiveServer(server_env, tmp_path / "server.log", workers=2, server=kind) as server:
        nonce = nonce_of(server, key, token)
        proof = key.proof("GET", f"{PUBLIC}/incomes", token, nonce=nonce)
        answers = [get(server, dpop_headers(token, proof))]
        # replays until both workers have answered one (bounded): each fetched the JWKS
        while issuer.fetches < 2 and len(answers) < MAX_REPLAYS:
            answers.append(get(server, dpop_headers(token, proof)))
        answers += [get(server, dpop_headers(token, proof)) for _ in range(4)]
        workers_seen = issuer.fetches
        log = server.log_path.read_text(errors="replace")
    statuses = [
        (r.status_code, r.json()["code"] if r.status_code != 200 else None) for r in answers
    ]
    assert statuses[0] == (200, None)
    assert statuses[1:] == [(401, "invalid_dpop_proof")] * (len(answers) - 1)
    assert workers_seen == 2, "both workers must have verified the token"
    assert proof not in log and proof.split(".")[2] not in log


def test_a_proof_is_refused_by_another_instance_on_the_same_database(issuer, server_env, tmp_path):
    key = DPoPKey()
    token = key.mint_bound(issuer.kit, scopes=SCOPES, expires_in=600)
    one = LiveServer(server_env, tmp_path / "one.log", workers=1)
    two = LiveServer(server_env, tmp_path / "two.log", workers=1, server="gunicorn")
    with one, two:
        # a nonce made by one instance is accepted by the other (same secret)
        nonce = nonce_of(one, key, token)
        proof = key.proof("GET", f"{PUBLIC}/incomes", token, nonce=nonce)
        accepted = get(two, dpop_headers(token, proof))
        replayed = [get(server, dpop_headers(token, proof)) for server in (one, two)]
        created = requests.post(
            f"{one.url}/incomes",
            json={"description": "bound", "amount": 3},
            headers=dpop_headers(token, key.proof("POST", f"{PUBLIC}/incomes", token, nonce=nonce)),
            timeout=30,
        )
        listed = get(
            two, dpop_headers(token, key.proof("GET", f"{PUBLIC}/incomes", token, nonce=nonce))
        )
    assert accepted.status_code == 200, accepted.text
    assert [(r.status_code, r.json()["code"]) for r in replayed] == [
        (401, "invalid_dpop_proof")
    ] * 2
    assert created.status_code == 201
    assert [row["id"] for row in listed.json()] == [created.json()["id"]]


@pytest.mark.parametrize("kind", SERVERS)
def test_production_entry_without_base_url_warns_once_and_runs_dpop_off(
    kind, issuer, database_url, tmp_path
):
    key = DPoPKey()
    token = key.mint_bound(issuer.kit, scopes=SCOPES)
    env = {**issuer.env(), "DATABASE_URL": database_url}
    with LiveServer(env, tmp_path / "server.log", workers=2, server=kind) as server:
        refused = get(server, dpop_headers(token, key.proof("GET", f"{server.url}/incomes", token)))
        metadata = requests.get(f"{server.url}/.well-known/oauth-protected-resource", timeout=30)
        log = server.log_path.read_text(errors="replace")
    assert (refused.status_code, refused.json()["code"]) == (401, "authorization_header_missing")
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="cashman"'
    assert metadata.status_code == 404
    assert log.count("API_BASE_URL is not set: DPoP is off") == 1, log


def test_a_lower_case_method_is_an_unknown_method_on_granian(issuer, server_env, tmp_path):
    """granian hands a lower-case method to the app as sent (gunicorn refuses the request
    line); werkzeug upper-cases it, and it was served as GET (with a proof for ``get``).
    ``get`` is not ``GET`` (RFC 9110 §9.1): a 405, whatever the proof says."""
    key = DPoPKey()
    token = key.mint_bound(issuer.kit, scopes=SCOPES, expires_in=600)
    env = {k: v for k, v in server_env.items() if k != "AUTH_DPOP_NONCE_SECRET"}
    with LiveServer(env, tmp_path / "server.log", workers=1, server="granian") as server:
        answers = [
            send_raw(
                server,
                [("Authorization", f"DPoP {token}"), ("DPoP", key.proof(htm, url, token))],
                method="get",
            )
            for htm, url in [("GET", f"{PUBLIC}/incomes"), ("get", f"{PUBLIC}/incomes")]
        ]
    assert [(status, body["code"]) for status, body in answers] == [(405, "method_not_allowed")] * 2


def send_raw(
    server: LiveServer, fields: list[tuple[str, str]], method: str = "GET"
) -> tuple[int, dict]:
    """``GET /incomes`` (or ``method``) with ``fields`` sent as given, repeated names as
    separate lines."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, "/incomes")
        for name, value in fields:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("kind", SERVERS)
def test_repeated_dpop_or_authorization_fields_are_refused_by_the_server(
    kind, issuer, server_env, tmp_path
):
    """Two ``DPoP`` lines, each a valid fresh proof, are two proofs (SPEC §3a step 1), and
    two ``Authorization`` lines are a malformed header, whatever the server does with a
    repeated field: the app must see both, never just one of them."""
    key = DPoPKey()
    token = key.mint_bound(issuer.kit, scopes=SCOPES, expires_in=600)
    env = {k: v for k, v in server_env.items() if k != "AUTH_DPOP_NONCE_SECRET"}
    with LiveServer(env, tmp_path / "server.log", workers=1, server=kind) as server:
        proofs = [key.proof("GET", f"{PUBLIC}/incomes", token) for _ in range(3)]
        two_proofs = send_raw(
            server,
            [("Authorization", f"DPoP {token}"), ("DPoP", proofs[0]), ("DPoP", proofs[1])],
        )
        two_tokens = send_raw(
            server,
            [
                ("Authorization", f"DPoP {token}"),
                ("Authorization", f"DPoP {token}"),
                ("DPoP", proofs[2]),
            ],
        )
        # neither refusal burned a proof: each is accepted once on its own
        alone = [
            send_raw(server, [("Authorization", f"DPoP {token}"), ("DPoP", p)]) for p in proofs
        ]
    assert (two_proofs[0], two_proofs[1]["code"]) == (401, "invalid_dpop_proof")
    assert (two_tokens[0], two_tokens[1]["code"]) == (400, "invalid_header")
    assert [status for status, _ in alone] == [200, 200, 200]
