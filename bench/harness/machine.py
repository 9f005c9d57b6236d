"""The machine and software a run measured, its results file, its throw-away database.

The facts are the ones BENCHMARKS.md states (cores, CPU model, memory, kernel, and the
versions of every server and library compared), never host names or paths, so a
results file can be committed or pasted as it is.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from .servers import BENCH, EXPRESS_DIR

RESULTS = BENCH / "results"
PYTHON_PACKAGES = ("granian", "gunicorn", "flask", "python-jose", "cryptography")
NODE_PACKAGES = ("express", "express-oauth2-jwt-bearer", "jose")


def _first(path: str, prefix: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _command_version(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        return "not installed"
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def _node_package(name: str) -> str:
    try:
        manifest = json.loads((EXPRESS_DIR / "node_modules" / name / "package.json").read_text())
    except (OSError, ValueError):
        return "not installed"
    return str(manifest.get("version", "unknown"))


def machine() -> dict[str, str]:
    """Cores, CPU model, memory, kernel and the versions of what was measured."""
    mem_kib = _first("/proc/meminfo", "MemTotal").split()[0]
    facts = {
        "nproc": str(os.cpu_count()),
        "cpu": _first("/proc/cpuinfo", "model name"),
        "memory_gib": f"{int(mem_kib) / 2**20:.1f}" if mem_kib.isdigit() else "unknown",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": _command_version(["node", "--version"]),
        "wrk": _command_version(["wrk", "--version"]).split(" [")[0],
    }
    for name in PYTHON_PACKAGES:
        try:
            facts[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            facts[name] = "not installed"
    for name in NODE_PACKAGES:
        facts[f"npm:{name}"] = _node_package(name)
    return facts


def save_results(name: str, data: Mapping[str, object]) -> Path:
    """Write the run's raw numbers to ``bench/results/<name>.json`` (not committed)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


@contextmanager
def postgres_database(base_url: str, name: str) -> Iterator[str]:
    """A dedicated PostgreSQL database for one bench, dropped afterwards.

    ``base_url`` is an SQLAlchemy URL (``postgresql+psycopg://user@host:port/db``); the
    bench database sits beside ``db`` and is the bench's alone, so nothing else is touched.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
