"""Time for the auth tests: a fixed "now" for token times, and a clock the test moves."""

from __future__ import annotations

NOW = 1_750_000_000.0  # seconds since the epoch: the verifier's wall clock in these tests


class Clock:
    """A clock the test moves by hand (wall or monotonic seconds)."""

    def __init__(self, now: float = 10_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
