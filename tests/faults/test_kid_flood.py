"""Random ``kid``s while the issuer is slow: ``/ping`` keeps answering (SPEC §3, §6).

A ``kid`` is the client's to choose, and an unknown one makes the API refetch the
issuer's key set (at most one attempt per ``JWKS_MIN_REFRESH_INTERVAL``). While that
fetch trickles towards its 10 s deadline, other requests with unknown ``kid``s used to
wait for it, one app thread each: a handful of connections held every thread of a
worker, so ``/ping`` (liveness, which must not depend on the issuers) and every valid
request waited up to 10 s, over and over. Now only the request that fetches waits that
long; the others are a 503 ``jwks_unavailable`` once the fetch is slow. The flood is
bounded in time; every request has a client timeout.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from auth.testing import AuthKit
from tests.faults.issuer import FaultyIssuer
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow

REFRESH_S = 2  # JWKS_MIN_REFRESH_INTERVAL: a refetch soon after the flood starts
FLOOD_S = REFRESH_S + 7.0  # well into that fetch's 10 s
FLOOD_CONNECTIONS = 6
PROBE_EVERY_S = 0.25
PING_TIMEOUT_S = 5.0  # half the fetch deadline a flooded /ping used to wait


def test_random_kids_during_a_trickling_fetch_leave_ping_and_valid_tokens_answering(tmp_path):
    kit = AuthKit()
    with FaultyIssuer(kit.jwks(), trickle_s=30) as issuer:
        env = {
            "AUTH0_ISSUER": issuer.issuer,
            "API_AUDIENCE": kit.audience,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cashman.db'}",
            "WEB_THREADS": "2",
            "JWKS_MIN_REFRESH_INTERVAL": str(REFRESH_S),
        }
        with LiveServer(env, tmp_path / "server.log", workers=1) as server:
            token = kit.mint(claims={"iss": issuer.issuer})
            valid = {"Authorization": f"Bearer {token}"}
            warm = requests.get(f"{server.url}/secured/ping", headers=valid, timeout=10)
            assert warm.status_code == 200
            issuer.set_mode("trickle")
            flood, probes = _flood_and_probe(server.url, kit, issuer.issuer, valid)
        fetches = issuer.fetches
    slow = [probe for probe in probes if probe[1] != 200]
    assert probes and not slow, f"{len(slow)} of {len(probes)} probes failed: {slow[:5]}"
    # the warm fetch, then one trickling refetch: no waiter started one of its own
    assert 2 <= fetches <= 3
    assert flood and {status for status, _ in flood} <= {401, 503}, flood
    # while that fetch was slow, the flood's unknown kids were answered at once
    assert {code for _, code in flood} == {"invalid_token", "jwks_unavailable"}


def _flood_and_probe(url: str, kit: AuthKit, iss: str, valid: dict[str, str]):
    """(flood answers as (status, code), probes as (path, status or error)), bounded."""
    end = time.monotonic() + FLOOD_S
    flood: list[tuple[object, object]] = []
    probes: list[tuple[str, object]] = []

    def send_random_kids() -> None:
        with requests.Session() as session:
            while time.monotonic() < end:
                header = {"alg": "RS256", "typ": "JWT", "kid": uuid.uuid4().hex}
                token = kit.mint_raw(header, {**kit.claims(), "iss": iss}, signature=b"forged")
                try:
                    resp = session.get(
                        f"{url}/secured/ping",
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=(5, 30),
                    )
                    flood.append((resp.status_code, resp.json().get("code")))
                except (requests.RequestException, ValueError) as exc:
                    flood.append((type(exc).__name__, None))

    def probe() -> None:
        while time.monotonic() < end:
            for path, headers in (("/ping", {}), ("/secured/ping", valid)):
                try:
                    resp = requests.get(url + path, headers=headers, timeout=PING_TIMEOUT_S)
                    probes.append((path, resp.status_code))
                except requests.RequestException as exc:
                    probes.append((path, type(exc).__name__))
            time.sleep(PROBE_EVERY_S)

    threads = [threading.Thread(target=send_random_kids) for _ in range(FLOOD_CONNECTIONS)]
    threads.append(threading.Thread(target=probe))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=FLOOD_S + 60)
    assert not any(thread.is_alive() for thread in threads)
    return flood, probes
