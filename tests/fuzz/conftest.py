"""Hypothesis profiles for the property-based suites.

``ci`` (chosen when ``CI`` is set, or with ``HYPOTHESIS_PROFILE=ci``) is
derandomized, so a CI failure reproduces locally with the same profile; ``dev``
explores new examples on every run and remembers failures in ``.hypothesis/``.
Both are bounded in examples; no deadline, since a timing is not a property.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("ci", max_examples=150, derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", max_examples=150, **_COMMON)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
