"""Medians, per-round ranges and paired ratios: the only statistics the benches report.

Why medians of rounds: on a shared machine one round can be slowed by anything else
running; the median ignores it, and the range (min-max over rounds) shows how much the
rounds disagreed. Ratios are paired: variant / reference in the same round (the same
slice of machine noise), then the median of those per-round ratios.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TypedDict


class Spread(TypedDict):
    """A median with the range of the values it summarises."""

    median: float
    min: float
    max: float


def median(values: Sequence[float]) -> float:
    """Median of ``values`` (the figure we report: robust to one noisy run)."""
    return statistics.median(values)


def spread(values: Sequence[float]) -> Spread:
    """Median and min-max of ``values``."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-round ratios ``num[r] / den[r]``; both lists hold one value per round."""
    if len(numerators) != len(denominators):
        raise ValueError("paired ratios need one value of each per round")
    return [n / d for n, d in zip(numerators, denominators, strict=True)]


def ratio_medians(samples, num: str, den: str, metric: str = "cpu") -> float:
    """Median over rounds of the per-round ratio num/den of one server's ``interleave`` run.

    ``metric`` "cpu": CPU per request; otherwise the throughput cost (den rps / num rps).
    """
    if metric == "cpu":
        a = [s.cpu_us_per_request for s in samples[num]]
        b = [s.cpu_us_per_request for s in samples[den]]
        return median(paired_ratios(a, b))
    a = [s.rps for s in samples[den]]
    b = [s.rps for s in samples[num]]
    return median(paired_ratios(a, b))
