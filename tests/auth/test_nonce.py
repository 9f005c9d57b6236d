"""Stateless DPoP nonces: current and previous step valid on any instance with the secret."""

from __future__ import annotations

import re

import pytest

from auth.nonce import DPoPNonces

SECRET = b"s" * 32
OTHER_SECRET = b"t" * 32
NOW = 1_750_000_020.0  # 20 s into a 60 s step


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_current_nonce_is_valid_and_url_safe():
    nonces = DPoPNonces(SECRET, clock=Clock())
    nonce = nonces.current()
    # RFC 9449 §8.1: nonce = 1*NQCHAR; base64url is a subset
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", nonce)
    assert nonces.is_valid(nonce)


def test_nonce_is_stable_within_a_step():
    clock = Clock()
    nonces = DPoPNonces(SECRET, clock=clock)
    first = nonces.current()
    clock.now = NOW + 39
    assert nonces.current() == first


def test_previous_step_nonce_stays_valid():
    clock = Clock()
    nonces = DPoPNonces(SECRET, clock=clock)
    issued = nonces.current()
    clock.now = NOW + 60  # next step
    assert nonces.current() != issued
    assert nonces.is_valid(issued)


def test_nonce_two_steps_old_is_refused():
    clock = Clock()
    nonces = DPoPNonces(SECRET, clock=clock)
    issued = nonces.current()
    clock.now = NOW + 120
    assert not nonces.is_valid(issued)


def test_nonce_of_a_future_step_is_refused():
    clock = Clock(NOW + 60)
    ahead = DPoPNonces(SECRET, clock=clock).current()
    assert not DPoPNonces(SECRET, clock=Clock()).is_valid(ahead)


def test_another_instance_with_the_same_secret_accepts_the_nonce():
    issued = DPoPNonces(SECRET, clock=Clock()).current()
    other_instance = DPoPNonces(SECRET, clock=Clock(NOW + 30))
    assert other_instance.is_valid(issued)


def test_an_instance_with_another_secret_refuses_the_nonce():
    issued = DPoPNonces(SECRET, clock=Clock()).current()
    assert not DPoPNonces(OTHER_SECRET, clock=Clock()).is_valid(issued)


@pytest.mark.parametrize("nonce", [None, 42, "", "x" * 43, "\u00e9" * 43, ["a"], "a" * 44])
def test_malformed_nonces_are_refused(nonce):
    assert not DPoPNonces(SECRET, clock=Clock()).is_valid(nonce)


def test_step_length_is_configurable():
    clock = Clock()
    nonces = DPoPNonces(SECRET, step_s=10, clock=clock)
    issued = nonces.current()
    clock.now = NOW + 20
    assert not nonces.is_valid(issued)


def test_short_secret_is_refused():
    with pytest.raises(ValueError):
        DPoPNonces(b"s" * 31)


def test_step_must_be_positive():
    with pytest.raises(ValueError):
        DPoPNonces(SECRET, step_s=0)


def test_repr_never_shows_the_secret():
    assert "sss" not in repr(DPoPNonces(SECRET))
