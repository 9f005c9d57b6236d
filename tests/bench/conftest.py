"""The bench scripts import their harness as a top-level package (they run as
``python bench/x.py``, with ``bench/`` first on ``sys.path``); these tests do the same."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
