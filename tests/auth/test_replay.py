"""``MemoryReplayStore``: a (jkt, jti) is accepted once until it expires; bounded, thread-safe."""

from __future__ import annotations

import threading

import pytest

from auth.replay import MemoryReplayStore, ReplayStore, ReplayStoreUnavailableError

NOW = 1_750_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_memory_store_is_a_replay_store():
    store: ReplayStore = MemoryReplayStore()
    assert store.record("jkt", "jti", NOW + 60) is True


def test_second_record_of_a_pair_is_a_replay():
    store = MemoryReplayStore(clock=Clock())
    assert store.record("jkt-a", "jti-1", NOW + 60) is True
    assert store.record("jkt-a", "jti-1", NOW + 60) is False


def test_same_jti_under_another_key_is_not_a_replay():
    store = MemoryReplayStore(clock=Clock())
    assert store.record("jkt-a", "jti-1", NOW + 60) is True
    assert store.record("jkt-b", "jti-1", NOW + 60) is True


def test_record_is_held_until_its_expiry_inclusive():
    clock = Clock()
    store = MemoryReplayStore(clock=clock)
    store.record("jkt", "jti", NOW + 60)
    clock.now = NOW + 60
    assert store.record("jkt", "jti", NOW + 120) is False


def test_expired_record_is_dropped_and_may_be_recorded_again():
    clock = Clock()
    store = MemoryReplayStore(clock=clock)
    store.record("jkt", "jti", NOW + 60)
    store.record("jkt", "other", NOW + 600)
    clock.now = NOW + 61
    assert store.record("jkt", "jti", NOW + 121) is True
    assert len(store) == 2  # the expired entry went, the new one and "other" stay


def test_expired_records_free_their_memory():
    clock = Clock()
    store = MemoryReplayStore(clock=clock, max_entries=1000)
    for i in range(1000):
        store.record("jkt", f"jti-{i}", NOW + 10)
    clock.now = NOW + 11
    store.record("jkt", "fresh", NOW + 20)
    assert len(store) == 1


def test_full_store_refuses_rather_than_forgets():
    store = MemoryReplayStore(clock=Clock(), max_entries=2)
    store.record("jkt", "a", NOW + 60)
    store.record("jkt", "b", NOW + 60)
    with pytest.raises(ReplayStoreUnavailableError):
        store.record("jkt", "c", NOW + 60)
    # nothing was evicted: both proofs still count as seen
    assert store.record("jkt", "a", NOW + 60) is False
    assert store.record("jkt", "b", NOW + 60) is False


def test_unavailable_error_carries_a_retry_hint():
    assert ReplayStoreUnavailableError("x").retry_after > 0
    assert ReplayStoreUnavailableError("x", retry_after=2).retry_after == 2


def test_max_entries_must_be_positive():
    with pytest.raises(ValueError):
        MemoryReplayStore(max_entries=0)


def test_concurrent_records_of_one_pair_accept_exactly_one():
    store = MemoryReplayStore()
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def record() -> None:
        barrier.wait(timeout=10)
        results.append(store.record("jkt", "same-jti", 2**40))

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(results) == [False] * 7 + [True]
