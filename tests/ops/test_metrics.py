"""Metrics on ``METRICS_BIND`` (SPEC §6): the parent's listener sums every worker's series.

Both production servers run with 2 workers, as users start them. That both
workers answered is witnessed by the JWKS server: each worker process fetches
the key set once, when it first verifies a token. Every count below is exact:
the listener must add up the workers, not report whichever one it asks.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from auth.testing import DPoPKey, dpop_headers
from tests.support.live import LiveServer, live_issuer
from tests.support.processes import SERVERS, free_port, production

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PUBLIC = "http://localhost:8080"  # the URL clients sign DPoP proofs for
MAX_REQUESTS = 100
TIMEOUT_S = 30


@pytest.fixture
def issuer():
    with live_issuer() as running:
        yield running


def call(method: str, url: str, **kwargs) -> requests.Response:
    # a new connection per request: the kernel spreads them over the workers
    with requests.Session() as session:
        return session.request(method, url, timeout=TIMEOUT_S, **kwargs)


def scrape(metrics_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the listener as {(name, sorted labels): value}."""
    text = requests.get(metrics_url, timeout=TIMEOUT_S).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("kind", SERVERS)
def test_the_listener_sums_the_workers(kind, issuer, tmp_path):
    metrics_port = free_port()
    env = {**issuer.env(), "API_BASE_URL": PUBLIC, "METRICS_BIND": f"127.0.0.1:{metrics_port}"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cashman.db'}"
    reader = issuer.kit.mint(scopes=["read:transactions"], expires_in=600)
    writer = issuer.kit.mint(scopes=["write:transactions"], expires_in=600)
    key = DPoPKey()
    bound = key.mint_bound(issuer.kit, scopes=["read:transactions"], expires_in=600)
    with LiveServer(env, tmp_path / "server.log", workers=2, server=kind) as server:
        incomes = f"{server.url}/incomes"
        # until both workers have verified a token (bounded)
        accepted = 0
        while issuer.fetches < 2 and accepted < MAX_REQUESTS:
            assert call("GET", incomes, headers=bearer(reader)).status_code == 200
            accepted += 1
        missing = [call("GET", incomes).status_code for _ in range(3)]
        broken = [call("GET", incomes, headers=bearer("a.b.c")).status_code for _ in range(2)]
        forbidden = call("POST", incomes, headers=bearer(reader), json={}).status_code
        post = {"headers": {**bearer(writer), "Idempotency-Key": "k-1"}}
        post["json"] = {"description": "salary", "amount": 10}
        first, retry = call("POST", incomes, **post), call("POST", incomes, **post)
        proof = key.proof("GET", f"{PUBLIC}/incomes", bound)
        dpop = [call("GET", incomes, headers=dpop_headers(bound, proof)) for _ in range(2)]
        one = call("GET", f"{server.url}/incomes/123456789", headers=bearer(reader))
        on_api_port = call("GET", f"{server.url}/metrics")
        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        raw = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=TIMEOUT_S).text

    assert issuer.fetches == 2, "both workers answered"
    assert (missing, broken, forbidden) == ([401] * 3, [401] * 2, 403)
    assert (first.status_code, retry.status_code, retry.json() == first.json()) == (201, 201, True)
    assert [resp.status_code for resp in dpop] == [200, 401]
    assert (one.status_code, on_api_port.status_code) == (404, 404)
    assert on_api_port.json()["code"] == "not_found"

    requests_total = "cashman_http_requests_total"
    get_200 = value(samples, requests_total, route="/incomes", method="GET", status="200")
    assert get_200 == accepted + 1  # the DPoP request
    assert value(samples, requests_total, route="/incomes", method="GET", status="401") == 6
    assert value(samples, requests_total, route="/incomes", method="POST", status="201") == 2
    assert value(samples, requests_total, route="/incomes/<txid:tx_id>", method="GET", status="404")
    assert "123456789" not in raw  # routes, never raw paths
    assert (
        value(
            samples, "cashman_http_request_duration_seconds_count", route="/incomes", method="GET"
        )
        == accepted + 7
    )

    outcomes = "cashman_auth_outcomes_total"
    successes = value(samples, outcomes, outcome="success", scheme="Bearer")
    assert successes == accepted + 3  # the readers, and the writer's two POSTs
    assert value(samples, outcomes, outcome="success", scheme="DPoP") == 1
    assert value(samples, outcomes, outcome="invalid_dpop_proof", scheme="DPoP") == 1
    assert value(samples, outcomes, outcome="authorization_header_missing", scheme="none") == 3
    assert value(samples, outcomes, outcome="invalid_token", scheme="Bearer") == 2
    assert value(samples, outcomes, outcome="insufficient_scope", scheme="Bearer") == 1

    issuer_label = issuer.kit.issuer
    assert value(samples, "cashman_jwks_fetches_total", issuer=issuer_label) == 2
    assert value(samples, "cashman_jwks_fetch_failures_total", issuer=issuer_label) == 0
    age = samples[("cashman_jwks_key_set_age_seconds", (("issuer", issuer_label),))]
    assert 0 <= age < 300
    assert value(samples, "cashman_token_cache_hits_total") > 0
    assert value(samples, "cashman_dpop_replays_refused_total") == 1
    assert value(samples, "cashman_idempotent_replays_total") == 1


def test_jwks_fetch_failures_are_counted(tmp_path):
    with live_issuer() as gone:
        env = {**gone.env(), "METRICS_BIND": f"127.0.0.1:{free_port()}"}
        token = gone.kit.mint(scopes=["read:transactions"], expires_in=600)
        issuer_label = gone.kit.issuer
    metrics_url = f"http://{env['METRICS_BIND']}/metrics"
    with LiveServer(env, tmp_path / "server.log", workers=1) as server:
        answer = call("GET", f"{server.url}/incomes", headers=bearer(token))
        samples = scrape(metrics_url)
    assert (answer.status_code, answer.json()["code"]) == (503, "jwks_unavailable")
    assert value(samples, "cashman_jwks_fetches_total", issuer=issuer_label) == 1
    assert value(samples, "cashman_jwks_fetch_failures_total", issuer=issuer_label) == 1
    outcome = {"outcome": "jwks_unavailable", "scheme": "Bearer"}
    assert value(samples, "cashman_auth_outcomes_total", **outcome) == 1
    # no key set was ever fetched: no age to report
    assert not any(name == "cashman_jwks_key_set_age_seconds" for name, _ in samples)


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize(
    ("metrics_bind", "problem"),
    [("nonsense", "must be host:port"), ("API", "must not be the API's own address")],
)
def test_a_bad_metrics_bind_is_one_line_and_exit_2(kind, metrics_bind, problem, tmp_path):
    port = free_port()
    if metrics_bind == "API":
        metrics_bind = f"127.0.0.1:{port}"
    env = {"API_AUDIENCE": "https://api.example.com", "AUTH0_DOMAIN": "example.auth0.com"}
    server = production(kind, tmp_path, port, METRICS_BIND=metrics_bind, **env)
    status = server.wait_exit()
    lines = [line for line in server.stderr.splitlines() if line.strip()]
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("cashman: configuration error: METRICS_BIND: ")
    assert problem in lines[0]


@pytest.mark.parametrize("kind", SERVERS)
def test_counts_of_a_killed_worker_stay_in_the_sums(kind, issuer, tmp_path):
    metrics_port = free_port()
    env = {**issuer.env(), "METRICS_BIND": f"127.0.0.1:{metrics_port}"}
    reader = issuer.kit.mint(scopes=["read:transactions"], expires_in=600)
    labels = {"route": "/incomes", "method": "GET", "status": "200"}
    with LiveServer(env, tmp_path / "server.log", workers=2, server=kind) as server:
        # until both workers have answered (each fetched the key set): whichever dies
        # below had counted some of these
        answers = []
        while issuer.fetches < 2 and len(answers) < MAX_REQUESTS:
            answers.append(call("GET", f"{server.url}/incomes", headers=bearer(reader)).status_code)
        workers = server.worker_pids()
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            now = server.worker_pids()
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        server.wait_ready()
        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
    assert (issuer.fetches, set(answers)) == (2, {200})
    assert value(samples, "cashman_http_requests_total", **labels) == len(answers)
