"""``auth.events``: what an application can observe, each event once per occurrence; and the
JWKS cache's readiness questions (SPEC §6: metrics and ``/readyz``)."""

from __future__ import annotations

import pytest
import responses

from auth.errors import JwksUnavailableError
from auth.events import AuthObserver
from auth.jwks import JWKSCache
from auth.testing import AuthKit
from auth.verify import TokenVerifier
from tests.auth.clocks import NOW, Clock


class Recorder(AuthObserver):
    """Every event, in order, as a tuple."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def authentication(self, outcome, scheme):
        self.events.append(("authentication", outcome, scheme))

    def jwks_fetch(self, issuer, succeeded, fetched_at):
        self.events.append(("jwks_fetch", issuer, succeeded, fetched_at))

    def token_cache_hit(self):
        self.events.append(("token_cache_hit",))

    def dpop_replay_refused(self):
        self.events.append(("dpop_replay_refused",))

    def named(self, name):
        return [event for event in self.events if event[0] == name]


def test_the_default_observer_does_nothing():
    observer = AuthObserver()
    observer.authentication("success", "Bearer")
    observer.jwks_fetch("https://i.example.com/", True, NOW)
    observer.token_cache_hit()
    observer.dpop_replay_refused()


def test_verifier_reports_each_jwks_fetch_with_its_issuer_and_time(kit, jwks):
    recorder = Recorder()
    monotonic = Clock()
    verifier = TokenVerifier(
        kit.settings(), clock=lambda: NOW, monotonic=monotonic, observer=recorder
    )
    verifier.verify(kit.mint(claims={"iat": int(NOW), "exp": int(NOW) + 300}))
    assert recorder.named("jwks_fetch") == [("jwks_fetch", kit.issuer, True, NOW)]


def test_verifier_reports_a_failed_fetch_once_per_attempt(kit):
    recorder = Recorder()
    monotonic = Clock()
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, status=500)
        verifier = TokenVerifier(
            kit.settings(), clock=lambda: NOW, monotonic=monotonic, observer=recorder
        )
        token = kit.mint(claims={"iat": int(NOW), "exp": int(NOW) + 300})
        for _ in range(3):  # throttled: one attempt only
            with pytest.raises(JwksUnavailableError):
                verifier.verify(token)
        monotonic.advance(31)
        with pytest.raises(JwksUnavailableError):
            verifier.verify(token)
    assert recorder.named("jwks_fetch") == [("jwks_fetch", kit.issuer, False, NOW)] * 2


def test_verifier_reports_each_cache_hit(kit, jwks):
    recorder = Recorder()
    verifier = TokenVerifier(kit.settings(), clock=lambda: NOW, observer=recorder)
    token = kit.mint(claims={"iat": int(NOW), "exp": int(NOW) + 300})
    for _ in range(3):
        verifier.verify(token)
    assert recorder.named("token_cache_hit") == [("token_cache_hit",)] * 2


def test_verifier_without_cache_reports_no_hit(kit, jwks):
    recorder = Recorder()
    verifier = TokenVerifier(kit.settings(token_cache_size=0), clock=lambda: NOW, observer=recorder)
    token = kit.mint(claims={"iat": int(NOW), "exp": int(NOW) + 300})
    verifier.verify(token)
    verifier.verify(token)
    assert recorder.named("token_cache_hit") == []


# -- readiness questions of the JWKS cache (no fetch unless asked) -----------------------------


def test_cache_readiness_before_any_fetch_asks_nothing_of_the_issuer(kit, jwks):
    cache = JWKSCache(kit.jwks_url, clock=Clock())
    assert not cache.has_usable_keys()
    assert cache.key_set_age_s() is None
    assert cache.may_fetch_now()
    assert len(jwks.calls) == 0


def test_cache_ensure_keys_fetches_once_then_reports_age(kit, jwks):
    clock = Clock()
    cache = JWKSCache(kit.jwks_url, clock=clock)
    assert cache.ensure_keys()
    assert cache.ensure_keys()
    assert len(jwks.calls) == 1
    clock.advance(42)
    assert cache.key_set_age_s() == 42
    assert cache.has_usable_keys()


def test_cache_ensure_keys_respects_the_refresh_throttle(kit):
    clock = Clock()
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, status=503)
        cache = JWKSCache(kit.jwks_url, clock=clock, min_refresh_s=30)
        assert not cache.ensure_keys()
        assert not cache.may_fetch_now()
        assert not cache.ensure_keys()  # no second attempt within the interval
        assert len(rsps.calls) == 1
        clock.advance(30)
        assert cache.may_fetch_now()


def test_cache_keys_older_than_max_stale_are_not_usable(kit, jwks):
    clock = Clock()
    cache = JWKSCache(kit.jwks_url, clock=clock, max_stale_s=100, ttl_s=50)
    assert cache.ensure_keys()
    clock.advance(101)
    assert not cache.has_usable_keys()
    assert cache.key_set_age_s() == 101


def test_kit_issuer_is_the_one_reported(jwks):
    other = AuthKit("https://other.example.com/")
    recorder = Recorder()
    with responses.RequestsMock() as rsps:
        other.publish(rsps)
        TokenVerifier(other.settings(), clock=lambda: NOW, observer=recorder).verify(
            other.mint(claims={"iat": int(NOW), "exp": int(NOW) + 300})
        )
    assert [event[1] for event in recorder.named("jwks_fetch")] == [other.issuer]
