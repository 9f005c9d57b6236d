"""Shared benchmark machinery, public tools only (wrk, gunicorn, granian, Node, /proc).

Why it exists: every figure in BENCHMARKS.md compares variants measured side by side in
one run, interleaved, so the noise of a shared machine hits them alike. The pieces:

- ``proc``: server CPU time and memory of a whole process tree, from ``/proc``;
- ``issuer``: a loopback JWKS server counting fetches per app, and bench tokens;
- ``servers``: gunicorn, granian and Node started as production starts them;
- ``apps``: the apps compared, their environments and endpoints;
- ``load``: wrk runs (``wrk/requests.lua``) paired with the CPU they cost;
- ``stats``: medians, per-round ranges, paired ratios;
- ``wsgi``: the app as a production worker builds it, and one request through WSGI;
- ``machine``: the facts of the machine, results files, a throw-away PostgreSQL database.

Importing it puts the project root on ``sys.path`` so scripts run as ``python bench/x.py``.
"""

from __future__ import annotations

import sys

from .apps import SEED_ROWS
from .issuer import (
    AUDIENCE,
    READ,
    WRITE,
    JWKSServer,
    make_kit,
    mint,
    mint_distinct,
    write_tokens,
)
from .load import Load, Sample, interleave, require_wrk, run_wrk
from .machine import RESULTS, machine, postgres_database, save_results
from .proc import rss_mib
from .servers import BENCH, ROOT, Gunicorn, Server, free_port
from .stats import median, paired_ratios, ratio_medians, spread

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = [
    "AUDIENCE",
    "BENCH",
    "READ",
    "RESULTS",
    "ROOT",
    "SEED_ROWS",
    "WRITE",
    "Gunicorn",
    "JWKSServer",
    "Load",
    "Sample",
    "Server",
    "free_port",
    "interleave",
    "machine",
    "make_kit",
    "median",
    "mint",
    "mint_distinct",
    "paired_ratios",
    "postgres_database",
    "ratio_medians",
    "require_wrk",
    "rss_mib",
    "run_wrk",
    "save_results",
    "spread",
    "write_tokens",
]
