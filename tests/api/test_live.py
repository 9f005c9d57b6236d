"""Against real production server processes: durability on SIGKILL, concurrent writers, chunked 413.

Loopback only, every wait bounded; the JWKS is served over HTTP by a thread.
"""

from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests

from tests.support.live import LiveServer, live_issuer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
SCOPES = ["read:transactions", "write:transactions"]
TIMEOUT_S = 20


@pytest.fixture
def issuer():
    with live_issuer() as issuer:
        yield issuer


@pytest.fixture
def headers(issuer):
    return {"Authorization": f"Bearer {issuer.kit.mint(scopes=SCOPES, expires_in=600)}"}


def all_transactions(url, headers):
    """Every transaction of the caller, following Link rel=next (bounded)."""
    items, next_url = [], f"{url}/transactions?limit=500"
    for _ in range(100):
        resp = requests.get(next_url, headers=headers, timeout=TIMEOUT_S)
        assert resp.status_code == 200
        items += resp.json(parse_float=Decimal)
        if "next" not in resp.links:
            return items
        next_url = url + resp.links["next"]["url"]
    raise AssertionError("too many pages")


def test_acknowledged_write_survives_sigkill(issuer, headers, tmp_path):
    env = {**issuer.env(), "DATABASE_URL": f"sqlite:///{tmp_path / 'cashman.db'}"}
    server = LiveServer(env, tmp_path / "first.log")
    try:
        server.wait_ready()
        resp = requests.post(
            f"{server.url}/incomes",
            json={"description": "must survive", "amount": 42.42},
            headers=headers,
            timeout=TIMEOUT_S,
        )
        assert resp.status_code == 201
    finally:
        server.kill()
    with LiveServer(env, tmp_path / "second.log") as again:
        read = requests.get(
            f"{again.url}{resp.headers['Location']}", headers=headers, timeout=TIMEOUT_S
        )
    assert read.status_code == 200
    assert read.json() == resp.json()


def test_concurrent_writers_neither_lose_nor_duplicate(issuer, headers, database_url, tmp_path):
    env = {**issuer.env(), "DATABASE_URL": database_url}
    count = 300
    amounts = [Decimal(n % 97 + 1) / 100 + n for n in range(count)]

    with LiveServer(env, tmp_path / "server.log", workers=2) as server:

        def post(n):
            kind = "incomes" if n % 3 else "expenses"
            body = {"description": f"tx {n}", "amount": float(amounts[n])}
            resp = requests.post(f"{server.url}/{kind}", json=body, headers=headers, timeout=30)
            return resp.status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(post, range(count)))
        items = all_transactions(server.url, headers)
        balance = requests.get(f"{server.url}/balance", headers=headers, timeout=TIMEOUT_S)

    assert statuses == [201] * count
    assert sorted(item["description"] for item in items) == sorted(f"tx {n}" for n in range(count))
    assert len({item["id"] for item in items}) == count
    expected = sum(a if n % 3 else -a for n, a in enumerate(amounts))
    assert balance.json(parse_float=Decimal)["balance"] == expected


def test_concurrent_retries_of_one_key_create_one_row(issuer, headers, database_url, tmp_path):
    env = {**issuer.env(), "DATABASE_URL": database_url}
    barrier = threading.Barrier(20, timeout=30)
    keyed = {**headers, "Idempotency-Key": "same-key-20"}

    with LiveServer(env, tmp_path / "server.log", workers=2) as server:

        def post(_):
            barrier.wait()
            return requests.post(
                f"{server.url}/expenses",
                json={"description": "once", "amount": 9.99},
                headers=keyed,
                timeout=30,
            )

        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(post, range(20)))
        items = all_transactions(server.url, headers)

    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.headers["Location"] for r in responses}) == 1
    assert [item["description"] for item in items] == ["once"]


def test_chunked_bodies_on_a_real_server(issuer, headers, tmp_path):
    env = {**issuer.env(), "DATABASE_URL": f"sqlite:///{tmp_path / 'cashman.db'}"}

    def send_chunked(port, body):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        try:
            chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))
            conn.request(
                "POST",
                "/incomes",
                body=chunks,
                headers={**headers, "Content-Type": "application/json"},
                encode_chunked=True,
            )
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    small = json.dumps({"description": "chunked", "amount": 1}).encode()
    big = json.dumps({"description": "x" * 100_000, "amount": 1}).encode()
    with LiveServer(env, tmp_path / "server.log", workers=1) as server:
        ok_status, ok_body = send_chunked(server.port, small)
        big_status, big_body = send_chunked(server.port, big)
    assert (ok_status, ok_body["description"]) == (201, "chunked")
    assert (big_status, big_body["code"]) == (413, "payload_too_large")
