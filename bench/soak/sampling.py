"""What the soak keeps per sample window: latency percentiles and counts, and RSS trends.

Every exchange the traffic makes goes to ``Window.add`` (from the client threads);
``Window.take`` empties the window once per sample. A 30-minute run makes hundreds of
thousands of requests, so only the current window's latencies are held in memory.
"""

from __future__ import annotations

import statistics
import threading
from collections import Counter

from tests.topology.traffic import Outcome


class Window:
    """Latencies (ms) and statuses of the exchanges that ended since the last ``take``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latencies: list[float] = []
        self._statuses: Counter[str] = Counter()
        self._failures = 0

    def add(self, outcome: Outcome) -> None:
        """Called by the client threads as each exchange ends."""
        status = str(outcome.status) if outcome.status is not None else "none"
        with self._lock:
            self._latencies.append(outcome.seconds * 1000)
            self._statuses[status] += 1
            self._failures += not outcome.expected

    def take(self) -> dict[str, object]:
        """The window's figures: requests, failures, p50/p99 ms, statuses; then empty it."""
        with self._lock:
            latencies, self._latencies = self._latencies, []
            statuses, self._statuses = self._statuses, Counter()
            failures, self._failures = self._failures, 0
        p50 = p99 = None
        if len(latencies) >= 2:
            cuts = statistics.quantiles(latencies, n=100, method="inclusive")
            p50, p99 = round(cuts[49], 2), round(cuts[98], 2)
        return {
            "requests": len(latencies),
            "failures": failures,
            "p50_ms": p50,
            "p99_ms": p99,
            "statuses": dict(sorted(statuses.items())),
        }


def rss_trend(points: list[tuple[float, int]]) -> dict[str, float]:
    """One worker's RSS (MiB) at the first sample, halfway, at the end, and its peak.

    ``growth_second_half_mib`` is what it gained over the second half of the run: a
    worker whose memory has levelled off gains (close to) nothing there.
    """
    mib = [(t, kib / 1024) for t, kib in points]
    half = mib[len(mib) // 2]
    return {
        "first_mib": round(mib[0][1], 1),
        "half_mib": round(half[1], 1),
        "last_mib": round(mib[-1][1], 1),
        "peak_mib": round(max(v for _, v in mib), 1),
        "growth_second_half_mib": round(mib[-1][1] - half[1], 1),
        "samples": len(mib),
    }
