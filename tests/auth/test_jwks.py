"""``auth.jwks.JWKSCache``: one fetch at a time, refresh throttle, stale keys, hostile responses.

Time is an injected clock moved by the tests; nothing sleeps except the
deliberately slow fetches (a ``responses`` callback). The HTTP GET itself is
tested in ``test_jwks_fetch.py``, the key set's parsing in ``test_keyset.py``.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
import uuid

import pytest
import requests
import responses

from auth import AuthSettings
from auth.errors import InvalidTokenError, JwksUnavailableError
from auth.jwks import JWKSCache
from auth.testing import AuthKit
from auth.verify import TokenVerifier
from tests.auth.clocks import Clock
from tests.auth.jwks_responses import BAD_RESPONSES, KID, encoded, fetches


class ArrivalClock(Clock):
    """A clock that tells when each named thread has entered ``lookup`` (its first reading)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.arrived = {name: threading.Event() for name in names}

    def __call__(self) -> float:
        event = self.arrived.get(threading.current_thread().name)
        if event is not None:
            event.set()
        return self.now


@pytest.mark.parametrize(
    "options",
    [
        {"ttl_s": 0},
        {"ttl_s": 8 * 86400},
        {"min_refresh_s": -1},
        {"max_stale_s": math.nan},
        {"max_stale_s": 31 * 86400},
    ],
)
def test_jwks_settings_outside_the_spec_bounds_are_refused(options):
    (name,) = options
    with pytest.raises(ValueError, match=name):
        JWKSCache("https://tenant.example.com/.well-known/jwks.json", **options)


def test_jwks_many_lookups_one_fetch(kit, jwks, cache):
    c = cache()
    for _ in range(50):
        assert c.lookup(KID)[0].kid == KID
    assert fetches(jwks, kit.jwks_url) == 1


def test_jwks_key_objects_built_once(kit, jwks, cache):
    c = cache()
    first = c.lookup(KID)[0]
    assert all(c.lookup(KID)[0] is first for _ in range(10))


def test_jwks_cold_cache_twenty_threads_one_fetch(kit, cache):
    calls = []

    def slow_jwks(request):
        calls.append(request)
        time.sleep(0.2)
        return 200, {}, json.dumps(kit.jwks())

    c = cache()
    results: list[object] = []
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, kit.jwks_url, callback=slow_jwks)
        threads = [
            threading.Thread(target=lambda: results.append(c.lookup(KID))) for _ in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert len(calls) == 1
    assert len(results) == 20
    assert all(len(found) == 1 for found in results)


def test_unknown_kid_beside_usable_keys_waits_briefly_for_a_slow_fetch(kit):
    # a kid is the client's to choose: with the issuer slow, a flood of random ones would
    # hold every thread for the whole fetch (SPEC §6: /ping must not depend on issuers)
    release, fetching = threading.Event(), threading.Event()
    calls = []

    def jwks_answer(request):
        calls.append(request)
        if len(calls) > 1:  # the refetch the unknown kid started: the issuer hangs
            fetching.set()
            release.wait(timeout=10)
        return 200, {}, json.dumps(kit.jwks())

    wait_s = 0.6
    c = JWKSCache(kit.jwks_url, min_refresh_s=0, unknown_kid_wait_s=wait_s)
    waits = []
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, kit.jwks_url, callback=jwks_answer)
        assert c.lookup(KID)[0].kid == KID  # warm
        fetcher = threading.Thread(target=c.lookup, args=("rotated-1",))
        fetch_started = time.monotonic()
        fetcher.start()
        assert fetching.wait(timeout=10)
        for kid in ("rotated-2", "rotated-3"):  # while the fetch is young, then once slow
            started = time.monotonic()
            with pytest.raises(JwksUnavailableError) as refused:
                c.lookup(kid)
            waits.append((started - fetch_started, time.monotonic() - fetch_started))
            assert refused.value.retry_after == 1.0
        assert c.lookup(KID)[0].kid == KID  # a known kid never waits
        release.set()
        fetcher.join(timeout=10)
    (_, first_gave_up), (second_came, second_gave_up) = waits
    assert wait_s <= first_gave_up < 5  # waited until the fetch was slow, not to its end
    assert second_gave_up - second_came < wait_s / 2  # a slow fetch: answered at once
    assert len(calls) == 2  # the waiters started no fetch of their own


def test_unknown_kid_waits_for_a_fetch_answering_normally(kit):
    # a key rotation: tokens with the new kid arrive together; the one fetch serves them all
    def jwks_answer(request):
        time.sleep(0.3)
        return 200, {}, json.dumps(kit.jwks())

    c = JWKSCache(kit.jwks_url, min_refresh_s=0, unknown_kid_wait_s=1.0)
    results: list[object] = []

    def look_up(kid: str) -> None:
        try:
            results.append(len(c.lookup(kid)))
        except JwksUnavailableError as exc:
            results.append(exc)

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, kit.jwks_url, callback=jwks_answer)
        c.lookup(KID)  # warm
        new_kid = kit.rotate()
        threads = [threading.Thread(target=look_up, args=(new_kid,)) for _ in range(5)]
        for thread in threads:
            thread.start()
            time.sleep(0.02)
        for thread in threads:
            thread.join(timeout=10)
        assert fetches(rsps, kit.jwks_url) == 2
    assert results == [1] * 5


def test_unknown_kid_is_not_refused_for_a_lock_held_without_a_fetch(kit, jwks):
    # another thread holds the lock for an instant (a throttle check, a hand-over to the
    # background refresh): no fetch is slow, so no 503; the last fetch is long past
    clock = Clock()
    c = JWKSCache(kit.jwks_url, min_refresh_s=30, unknown_kid_wait_s=1.0, clock=clock)
    c.lookup(KID)
    clock.advance(60)
    outcome: list[object] = []
    c._lock.acquire()  # what a throttle check does, for longer
    looker = threading.Thread(target=lambda: outcome.append(c.lookup("unknown")))
    looker.start()
    time.sleep(0.1)
    c._lock.release()
    looker.join(timeout=10)
    assert outcome == [()]  # a 401 for the unknown kid, after one refetch
    assert fetches(jwks, kit.jwks_url) == 2


@pytest.mark.parametrize("wait_s", [-0.1, math.nan, math.inf])
def test_unknown_kid_wait_outside_its_bounds_is_refused(wait_s):
    with pytest.raises(ValueError, match="unknown_kid_wait_s"):
        JWKSCache("https://tenant.example.com/.well-known/jwks.json", unknown_kid_wait_s=wait_s)


def test_cold_cache_waiters_wait_for_the_whole_fetch(kit):
    # nothing can be served without keys: every caller waits for the one fetch
    def slow_jwks(request):
        time.sleep(0.5)
        return 200, {}, json.dumps(kit.jwks())

    c = JWKSCache(kit.jwks_url, min_refresh_s=0, unknown_kid_wait_s=0.05)
    results: list[object] = []
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, kit.jwks_url, callback=slow_jwks)
        threads = [threading.Thread(target=lambda: results.append(c.lookup(KID))) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert fetches(rsps, kit.jwks_url) == 1
    assert [len(found) for found in results] == [1] * 5


@pytest.mark.parametrize(
    ("response", "waiter_kid"),
    [
        ({"status": 503}, KID),  # the issuer fails: every waiter shares the failure
        ({"body": requests.Timeout("hanging issuer")}, KID),
        (None, "random-kid"),  # a good set without the waiters' kid: no refetch each
    ],
)
def test_jwks_waiters_share_the_attempt_in_flight(kit, response, waiter_kid):
    names = [f"waiter-{i}" for i in range(5)]
    clock = ArrivalClock(names)
    c = JWKSCache(kit.jwks_url, min_refresh_s=0, clock=clock)
    outcomes: list[object] = []

    def wait_for_keys() -> None:
        try:
            outcomes.append(c.lookup(waiter_kid))
        except JwksUnavailableError as exc:
            outcomes.append(exc)

    waiters = [threading.Thread(target=wait_for_keys, name=name) for name in names]

    def first_attempt(request):
        # The lock is held: start the waiters and let each reach lookup before answering.
        for waiter in waiters:
            waiter.start()
        # A waiter's first clock reading comes after it noted the attempts so far.
        assert all(clock.arrived[name].wait(timeout=10) for name in names)
        if response is None:
            return 200, {}, json.dumps(kit.jwks())
        if "body" in response:
            raise response["body"]
        return response["status"], {}, "{}"

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, kit.jwks_url, callback=first_attempt)
        with contextlib.suppress(JwksUnavailableError):
            c.lookup(KID)
        for waiter in waiters:
            waiter.join(timeout=10)
        assert fetches(rsps, kit.jwks_url) == 1
    if response is None:
        assert outcomes == [()] * len(names)
    else:
        assert len(outcomes) == len(names)
        assert all(isinstance(o, JwksUnavailableError) for o in outcomes)


def test_jwks_refresh_after_ttl(kit, jwks, cache, clock):
    c = cache(ttl_s=600)
    c.lookup(KID)
    clock.advance(599)
    c.lookup(KID)
    assert fetches(jwks, kit.jwks_url) == 1
    clock.advance(2)
    c.lookup(KID)
    assert fetches(jwks, kit.jwks_url) == 2


def test_jwks_unknown_kid_refetches_once_per_interval(kit, jwks, cache, clock):
    c = cache(min_refresh_s=30)
    c.lookup(KID)
    clock.advance(31)
    for _ in range(100):
        assert c.lookup(uuid.uuid4().hex) == ()
    assert fetches(jwks, kit.jwks_url) == 2
    clock.advance(10)
    for _ in range(100):
        c.lookup(uuid.uuid4().hex)
    assert fetches(jwks, kit.jwks_url) == 2
    clock.advance(21)
    c.lookup(uuid.uuid4().hex)
    assert fetches(jwks, kit.jwks_url) == 3


def test_jwks_random_kid_flood_through_verifier_is_bounded(kit, jwks, clock):
    verifier = TokenVerifier(kit.settings(), monotonic=clock)
    verifier.verify(kit.mint())
    for i in range(100):
        clock.advance(1)
        with pytest.raises(InvalidTokenError):
            verifier.verify(kit.mint(kid=f"random-{i}"))
    # 100 s of flood with a 30 s interval: at most one fetch per interval.
    assert fetches(jwks, kit.jwks_url) <= 1 + 100 // 30


def test_jwks_rotated_key_accepted_without_restart(kit, jwks, clock):
    verifier = TokenVerifier(kit.settings(), monotonic=clock)
    assert verifier.verify(kit.mint())["sub"] == "user-1"
    clock.advance(31)
    kit.rotate("rotated-key", keep_old=False)
    assert verifier.verify(kit.mint())["sub"] == "user-1"
    assert fetches(jwks, kit.jwks_url) == 2


def test_jwks_rotation_within_interval_waits_for_it(kit, jwks, clock):
    verifier = TokenVerifier(kit.settings(), monotonic=clock)
    verifier.verify(kit.mint())
    kit.rotate("rotated-key")
    with pytest.raises(InvalidTokenError):
        verifier.verify(kit.mint())
    clock.advance(30)
    assert verifier.verify(kit.mint())["sub"] == "user-1"


def test_jwks_outage_keeps_keys_until_max_stale(kit, clock):
    settings = kit.settings(token_cache_size=0, jwks_max_stale=3600)
    verifier = TokenVerifier(settings, monotonic=clock)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        verifier.verify(kit.mint())
        rsps.replace(responses.GET, kit.jwks_url, status=503)
        clock.advance(601)
        assert verifier.verify(kit.mint())["sub"] == "user-1"
        clock.advance(2998)
        assert verifier.verify(kit.mint())["sub"] == "user-1"
        clock.advance(2)
        with pytest.raises(JwksUnavailableError) as caught:
            verifier.verify(kit.mint())
    assert caught.value.retry_after >= 1


def test_jwks_stale_keys_recover_when_issuer_returns(kit, cache, clock):
    c = cache(max_stale_s=100)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(kit.jwks_url, status=500)
        with pytest.raises(JwksUnavailableError):
            c.lookup(KID)
        clock.advance(30)
        rsps.replace(responses.GET, kit.jwks_url, json=kit.jwks())
        assert c.lookup(KID)[0].kid == KID


def test_jwks_cold_start_issuer_down_is_503_with_retry_after(kit, cache, clock):
    c = cache(min_refresh_s=30)
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, body=requests.ConnectionError("refused"))
        with pytest.raises(JwksUnavailableError) as first:
            c.lookup(KID)
        clock.advance(20)
        with pytest.raises(JwksUnavailableError) as second:
            c.lookup(KID)
        assert fetches(rsps, kit.jwks_url) == 1
    assert first.value.retry_after == 30
    assert second.value.retry_after == 10


def test_jwks_cold_start_issuer_down_through_app(kit):
    from tests.auth.minimal_app import build_app

    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, body=requests.Timeout("slow"))
        client = build_app(kit.settings()).test_client()
        resp = client.get("/secured", headers={"Authorization": f"Bearer {kit.mint()}"})
    assert (resp.status_code, resp.json["code"]) == (503, "jwks_unavailable")
    assert 1 <= int(resp.headers["Retry-After"]) <= 30


def test_jwks_failed_attempts_also_respect_interval(kit, cache, clock):
    c = cache(min_refresh_s=30)
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, status=500)
        for _ in range(10):
            with pytest.raises(JwksUnavailableError):
                c.lookup(KID)
            clock.advance(5)
        assert fetches(rsps, kit.jwks_url) == 2


@pytest.mark.parametrize("case", BAD_RESPONSES)
def test_jwks_bad_response_never_replaces_good_keys(kit, cache, clock, case):
    c = cache()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        good = c.lookup(KID)
        kit.rotate("would-replace", keep_old=False)
        rsps.replace(responses.GET, kit.jwks_url, **BAD_RESPONSES[case](kit))
        clock.advance(601)
        assert c.lookup(KID) == good
        assert fetches(rsps, kit.jwks_url) == 2


@pytest.mark.parametrize("case", BAD_RESPONSES)
def test_jwks_bad_response_on_cold_start_is_unavailable(kit, cache, case):
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, **BAD_RESPONSES[case](kit))
        with pytest.raises(JwksUnavailableError):
            cache().lookup(KID)


def test_jwks_compressed_refresh_replaces_keys(kit, cache, clock):
    c = cache()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        c.lookup(KID)
        kit.rotate("rotated-key", keep_old=False)
        rsps.replace(responses.GET, kit.jwks_url, **encoded(kit, "gzip"))
        clock.advance(601)
        assert c.lookup("rotated-key")[0].kid == "rotated-key"


def test_jwks_fetch_outcomes_are_logged(kit, cache, caplog):
    with caplog.at_level("INFO", logger="auth.jwks"), responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, status=500)
        with pytest.raises(JwksUnavailableError):
            cache().lookup(KID)
    assert any("500" in r.getMessage() and kit.jwks_url in r.getMessage() for r in caplog.records)


def test_jwks_kit_other_issuer_isolated():
    assert (
        AuthKit("https://x.example.com/").jwks_url == "https://x.example.com/.well-known/jwks.json"
    )


def test_jwks_max_stale_shorter_than_ttl_still_bounds_key_age(kit, cache, clock):
    c = cache(ttl_s=600, max_stale_s=100)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        c.lookup(KID)
        rsps.replace(responses.GET, kit.jwks_url, status=500)
        clock.advance(101)
        with pytest.raises(JwksUnavailableError):
            c.lookup(KID)


def test_jwks_stale_refresh_in_background_never_holds_a_request(kit, clock):
    c = JWKSCache(
        kit.jwks_url, ttl_s=600, min_refresh_s=30, clock=clock, refresh_in_background=True
    )
    entered, release = threading.Event(), threading.Event()
    fetched_by: list[str] = []

    def held_jwks(request):
        fetched_by.append(threading.current_thread().name)
        if len(fetched_by) > 1:  # the refresh: hold it until the test has looked
            entered.set()
            assert release.wait(timeout=10)
        return 200, {}, json.dumps(kit.jwks())

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, kit.jwks_url, callback=held_jwks)
        good = c.lookup(KID)
        kit.rotate("rotated-key")
        clock.advance(601)
        # The refresh is held mid-fetch, yet every request gets the usable stale keys now.
        assert c.lookup(KID) == good
        assert entered.wait(timeout=10)
        assert c.lookup(KID) == good
        assert fetched_by[1] != threading.current_thread().name
        release.set()
        # An unknown kid waits for the refresh in flight and shares it: no fetch of its own.
        assert c.lookup("rotated-key")[0].kid == "rotated-key"
        assert fetches(rsps, kit.jwks_url) == 2


def test_jwks_background_refresh_failure_keeps_keys_and_throttles(kit, clock):
    c = JWKSCache(
        kit.jwks_url, ttl_s=600, min_refresh_s=30, clock=clock, refresh_in_background=True
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        good = c.lookup(KID)
        rsps.replace(responses.GET, kit.jwks_url, status=503)
        clock.advance(601)
        for _ in range(20):
            assert c.lookup(KID) == good
        assert c.lookup("unknown-kid") == ()  # waits for the refresh in flight, shares it
        assert fetches(rsps, kit.jwks_url) == 2


def test_jwks_background_refresh_is_the_default_but_not_the_kits():
    # The kit keeps fetches synchronous so a test's fetch counts are exact.
    env = {"AUTH0_DOMAIN": "t.auth0.com", "API_AUDIENCE": "a"}
    verifier = TokenVerifier(AuthSettings.from_env(env))
    assert all(cache.refresh_in_background for cache in verifier.jwks.values())
    kit_verifier = TokenVerifier(AuthKit().settings())
    assert not any(cache.refresh_in_background for cache in kit_verifier.jwks.values())
