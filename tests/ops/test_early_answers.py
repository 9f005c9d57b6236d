"""Answers given before the whole body is read leave the connection usable or cleanly closed.

401/403 come before the body by design (SPEC §3), 415 and a bad
``Authorization`` header's 400 without reading it, 413 from the
``Content-Length`` alone or after 64 KiB of a chunked body. Whatever the
answer, a keep-alive client's next request must work: either the server
read the rest and kept the connection, or it said ``Connection: close`` and
closed it. On both servers, with bodies just over the 64 KiB limit and far
over it, many times (bounded). Loopback only; every socket has a timeout.
"""

from __future__ import annotations

import json

import pytest
import requests

from tests.support import raw_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROUNDS = 8
TIMEOUT_S = 20
JUST_OVER = 64 * 1024 + 1500
FAR_OVER = 4 * 1024 * 1024
SMALL = 1024


def json_body(size: int) -> bytes:
    """A JSON object of about ``size`` bytes."""
    return json.dumps({"description": "x" * max(size - 40, 1), "amount": 1}).encode()


def case_headers(case: str, jwks_issuer, write_token: str) -> dict[str, str]:
    """Request headers that make the app answer ``case`` before it reads the body."""
    json_type = {"Content-Type": "application/json"}
    if case == "401":
        return json_type
    if case == "403":
        read_only = jwks_issuer.kit.mint(scopes=["read:transactions"], expires_in=3600)
        return {**json_type, "Authorization": f"Bearer {read_only}"}
    if case == "400":
        return {**json_type, "Authorization": "Bearer two tokens"}
    if case == "415":
        return {"Content-Type": "text/plain", "Authorization": f"Bearer {write_token}"}
    return {**json_type, "Authorization": f"Bearer {write_token}"}  # 413


EXPECTED = {
    "401": (401, "authorization_header_missing"),
    "403": (403, "insufficient_scope"),
    "400": (400, "invalid_header"),
    "415": (415, "unsupported_media_type"),
    "413": (413, "payload_too_large"),
}
CASES = [
    ("401", SMALL),
    ("401", JUST_OVER),
    ("401", FAR_OVER),
    ("403", SMALL),
    ("403", JUST_OVER),
    ("403", FAR_OVER),
    ("400", SMALL),
    ("400", FAR_OVER),
    ("415", SMALL),
    ("415", JUST_OVER),
    ("415", FAR_OVER),
    ("413", JUST_OVER),
    ("413", FAR_OVER),
]


@pytest.mark.parametrize(("case", "size"), CASES)
def test_keep_alive_client_survives_an_early_answer(
    shared_server, jwks_issuer, write_token, case, size
):
    headers = case_headers(case, jwks_issuer, write_token)
    body = json_body(size)
    url = shared_server.url
    with requests.Session() as session:
        for _ in range(ROUNDS):
            resp = session.post(f"{url}/incomes", data=body, headers=headers, timeout=TIMEOUT_S)
            assert (resp.status_code, resp.json()["code"]) == EXPECTED[case]
            # the same session: the pooled connection if it was kept, a new one if closed
            assert session.get(f"{url}/ping", timeout=TIMEOUT_S).status_code == 200


@pytest.mark.parametrize("size", [JUST_OVER, FAR_OVER])
def test_keep_alive_client_survives_a_chunked_413(shared_server, write_token, size):
    body = json_body(size)
    headers = {"Authorization": f"Bearer {write_token}", "Content-Type": "application/json"}
    url = shared_server.url
    with requests.Session() as session:
        for _ in range(ROUNDS):
            chunks = (body[i : i + 16384] for i in range(0, len(body), 16384))
            resp = session.post(f"{url}/incomes", data=chunks, headers=headers, timeout=TIMEOUT_S)
            assert (resp.status_code, resp.json()["code"]) == (413, "payload_too_large")
            assert session.get(f"{url}/ping", timeout=TIMEOUT_S).status_code == 200


@pytest.mark.parametrize(("case", "size"), CASES)
def test_early_answer_keeps_the_connection_or_says_it_closes(
    shared_server, jwks_issuer, write_token, case, size
):
    """On the socket itself: kept alive means a second request works; else close, then EOF."""
    headers = case_headers(case, jwks_issuer, write_token)
    with raw_http.connect(shared_server.port) as sock:
        raw_http.send_all(sock, raw_http.request("POST", "/incomes", headers, json_body(size)))
        answer = raw_http.read_response(sock)
        assert (answer.status, answer.json()["code"]) == EXPECTED[case]
        if answer.closes:
            assert raw_http.read_to_close(sock) == b""
        else:
            raw_http.send_all(sock, raw_http.request("GET", "/ping"))
            assert raw_http.read_response(sock).status == 200


@pytest.mark.parametrize(("case", "size"), [("401", SMALL), ("403", JUST_OVER), ("413", JUST_OVER)])
def test_bodies_the_server_can_drain_keep_their_connection(
    shared_server, jwks_issuer, write_token, case, size
):
    """Up to the drain limit the rest is read: the client keeps its warm connection."""
    headers = case_headers(case, jwks_issuer, write_token)
    with raw_http.connect(shared_server.port) as sock:
        for _ in range(3):
            raw_http.send_all(sock, raw_http.request("POST", "/incomes", headers, json_body(size)))
            answer = raw_http.read_response(sock)
            assert answer.status == EXPECTED[case][0]
            assert not answer.closes


def test_a_body_too_large_to_drain_is_answered_with_connection_close(shared_server, write_token):
    headers = {"Authorization": f"Bearer {write_token}", "Content-Type": "application/json"}
    with raw_http.connect(shared_server.port) as sock:
        raw_http.send_all(sock, raw_http.request("POST", "/incomes", headers, json_body(FAR_OVER)))
        answer = raw_http.read_response(sock)
    assert (answer.status, answer.closes) == (413, True)
