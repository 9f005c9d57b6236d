"""Verified-token cache: hits skip work, never outlive ``exp`` or the key, never hold failures."""

from __future__ import annotations

import threading

import pytest
import responses

from auth.errors import (
    InvalidClaimsError,
    InvalidTokenError,
    JwksUnavailableError,
    TokenExpiredError,
)
from auth.token_cache import CachedToken, TokenCache
from auth.verify import TokenVerifier
from tests.auth.clocks import NOW, Clock


@pytest.fixture
def clocks():
    return Clock(NOW), Clock(10_000.0)


@pytest.fixture
def verifier(kit, jwks, clocks):
    wall, mono = clocks

    def make(**overrides):
        return TokenVerifier(kit.settings(**overrides), clock=wall, monotonic=mono)

    return make


def mint(kit, **claims):
    return kit.mint(claims={"iat": int(NOW), "exp": int(NOW) + 300, **claims})


def test_token_cache_hit_returns_same_claims(kit, verifier):
    v = verifier()
    token = mint(kit)
    first = v.verify(token)
    assert v.verify(token) == first
    assert len(v.token_cache) == 1


def test_token_cache_hit_skips_the_signature_check(kit, verifier):
    v = verifier()
    token = mint(kit)
    v.verify(token)
    calls = []
    entry = next(iter(v.token_cache._entries.values()))
    original = entry.key.verifiers["RS256"]
    entry.key.verifiers["RS256"] = lambda *a: calls.append(a) or original(*a)  # type: ignore[index]
    v.verify(token)
    assert calls == []


def test_token_cache_returns_a_copy(kit, verifier):
    v = verifier()
    token = mint(kit)
    v.verify(token)["sub"] = "mallory"
    assert v.verify(token)["sub"] == "user-1"


def test_token_cache_entry_ends_at_exp_plus_leeway(kit, verifier, clocks):
    wall, _ = clocks
    v = verifier(auth_leeway=30)
    token = mint(kit, exp=int(NOW) + 60)
    v.verify(token)
    wall.now = NOW + 89
    assert v.verify(token)["sub"] == "user-1"
    wall.now = NOW + 90
    with pytest.raises(TokenExpiredError):
        v.verify(token)
    assert len(v.token_cache) == 0


def test_token_cache_entry_dropped_when_key_leaves_jwks(kit, verifier, clocks):
    _, mono = clocks
    v = verifier()
    token = mint(kit)
    v.verify(token)
    kit.rotate("next-key", keep_old=False)
    mono.now += 601  # TTL: the next use refreshes the key set
    with pytest.raises(InvalidTokenError):
        v.verify(token)


def test_token_cache_hit_past_max_stale_is_unavailable(kit, clocks):
    wall, mono = clocks
    v = TokenVerifier(kit.settings(jwks_max_stale=1000), clock=wall, monotonic=mono)
    token = mint(kit)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        v.verify(token)
        rsps.replace(responses.GET, kit.jwks_url, status=500)
        mono.now += 601
        assert v.verify(token)["sub"] == "user-1"
        mono.now += 400
        with pytest.raises(JwksUnavailableError):
            v.verify(token)


def test_token_cache_failures_are_not_cached(kit, verifier, clocks):
    wall, _ = clocks
    v = verifier()
    token = mint(kit, nbf=int(NOW) + 100)
    with pytest.raises(InvalidClaimsError):
        v.verify(token)
    assert len(v.token_cache) == 0
    wall.now = NOW + 100
    assert v.verify(token)["sub"] == "user-1"


def test_token_cache_bad_signature_never_cached(kit, verifier):
    v = verifier()
    token = mint(kit, sub="x")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    for _ in range(2):
        with pytest.raises(InvalidTokenError):
            v.verify(forged)
    assert len(v.token_cache) == 0


def test_token_cache_is_bounded_lru(kit, verifier):
    v = verifier(token_cache_size=3)
    tokens = [mint(kit, sub=f"user-{i}") for i in range(4)]
    for token in tokens[:3]:
        v.verify(token)
    v.verify(tokens[0])  # most recently used now
    v.verify(tokens[3])  # evicts tokens[1]
    keys = set(v.token_cache._entries)
    assert len(keys) == 3
    assert TokenCache.digest(tokens[1]) not in keys
    assert TokenCache.digest(tokens[0]) in keys


def test_token_cache_size_zero_disables(kit, verifier):
    v = verifier(token_cache_size=0)
    token = mint(kit)
    v.verify(token)
    v.verify(token)
    assert len(v.token_cache) == 0


def test_token_cache_keys_are_digests_not_tokens(kit, verifier):
    v = verifier()
    token = mint(kit)
    v.verify(token)
    assert all(isinstance(k, bytes) and len(k) == 32 for k in v.token_cache._entries)
    assert token.encode() not in v.token_cache._entries


def test_token_cache_concurrent_use(kit, verifier):
    v = verifier(token_cache_size=8)
    tokens = [mint(kit, sub=f"user-{i}") for i in range(16)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                for token in tokens:
                    v.verify(token)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(v.token_cache) <= 8


def test_token_cache_unit_expiry_and_lru():
    cache = TokenCache(2)
    entry = CachedToken(claims={"sub": "a"}, expires_at=100.0, key=None, issuer="i")  # type: ignore[arg-type]
    cache.put(b"a", entry)
    assert cache.get(b"a", 99.9) is entry
    assert cache.get(b"a", 100.0) is None
    assert len(cache) == 0


def test_token_cache_entry_survives_a_refresh_that_keeps_its_key(kit, verifier, clocks, jwks):
    _, mono = clocks
    v = verifier()
    token = mint(kit)
    v.verify(token)
    entry = v.token_cache._entries[TokenCache.digest(token)]
    kit.add_key("added")
    mono.now += 601  # TTL: the next use refreshes the key set
    assert v.verify(token)["sub"] == "user-1"
    assert len(jwks.calls) == 2
    assert v.token_cache._entries[TokenCache.digest(token)] is entry


def test_token_cache_refresh_drops_only_tokens_of_changed_keys(kit, verifier, clocks):
    _, mono = clocks
    v = verifier()
    kept = mint(kit)
    kit.add_key("leaving")
    kit.signing_kid = "leaving"
    dropped = mint(kit)
    v.verify(kept)
    mono.now += 31  # an unknown kid may refetch after the minimum interval
    v.verify(dropped)
    kept_entry = v.token_cache._entries[TokenCache.digest(kept)]
    kit.remove_key("leaving")
    mono.now += 601
    assert v.verify(kept)["sub"] == "user-1"
    assert v.token_cache._entries[TokenCache.digest(kept)] is kept_entry
    with pytest.raises(InvalidTokenError):
        v.verify(dropped)
    assert TokenCache.digest(dropped) not in v.token_cache._entries
