"""The Prometheus listener of a production server's parent (SPEC §6 "Metrics", ``METRICS_BIND``).

Workers count in prometheus_client's multiprocess mode: each writes its values
to files in ``PROMETHEUS_MULTIPROC_DIR``. The parent, which serves no request,
answers scrapes on ``METRICS_BIND`` (never the API's address) by summing those
files, so a scrape sees every worker, whichever one would have answered on the
API port. Here, in the parent, before any worker starts:

- ``check_metrics_bind``: the address is not the API's and can be listened on
  (else one line naming ``METRICS_BIND`` and exit 2, like any bad setting);
- ``start``: the multiprocess directory (the one given in
  ``PROMETHEUS_MULTIPROC_DIR``, emptied of earlier runs' files, else a fresh one
  in the server's own directory) and the listener thread;
- ``worker_ended``: a worker's live-only gauge files are dropped
  (``mark_process_dead``); its counters stay in the sums.

The age of the key set in use is computed at scrape time from the oldest last
successful JWKS fetch among live workers, so it grows while every refresh fails.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auth import ConfigError
from cashman.server_config import Bind, listen_problem

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
LAST_SUCCESS = "cashman_jwks_last_success_timestamp_seconds"

# the listener of this parent, kept so that a forked worker closes its inherited socket
_server: Any = None


def check_metrics_bind(metrics: Bind, api: Bind) -> None:
    """Refuse (``ConfigError`` naming ``METRICS_BIND``) the API's own port on an overlapping
    host, or an address this host cannot listen on."""
    wildcard = {"0.0.0.0", "::"}  # compared, not bound  # noqa: S104  # nosec B104
    overlaps = metrics.host == api.host or {metrics.host, api.host} & wildcard
    if metrics.port == api.port and overlaps:
        raise ConfigError("METRICS_BIND", "must not be the API's own address: metrics stay private")
    problem = listen_problem(metrics)
    if problem is not None:
        raise ConfigError("METRICS_BIND", f"cannot listen on {metrics} ({problem})")


def check_multiprocess_directory() -> None:
    """``PROMETHEUS_MULTIPROC_DIR``, when set, is a directory this process can make or
    find and write to (``ConfigError`` naming it otherwise: one line at start, not a
    worker's traceback). The text of the error names no path."""
    given = os.environ.get(MULTIPROC_VARIABLE, "").strip()
    if not given:
        return
    directory = Path(given)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
        raise ConfigError(MULTIPROC_VARIABLE, f"cannot be made a directory ({problem})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(MULTIPROC_VARIABLE, "must be a directory this process can write to")


def multiprocess_directory(server_directory: Path) -> Path:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` for the workers: the operator's (emptied of the files
    of an earlier run, as prometheus_client requires) or ``<server_directory>/metrics``."""
    given = os.environ.get(MULTIPROC_VARIABLE, "").strip()
    directory = Path(given) if given else server_directory / "metrics"
    directory.mkdir(parents=True, exist_ok=True)
    if given:
        for stale in directory.glob("*.db"):
            with contextlib.suppress(OSError):
                stale.unlink()
    os.environ[MULTIPROC_VARIABLE] = str(directory)
    return directory


def start(bind: Bind, server_directory: Path) -> None:
    """In the parent, before the workers: serve the summed series on ``bind`` (a daemon thread)."""
    global _server
    directory = multiprocess_directory(server_directory)
    # imported only now: prometheus_client reads the variable above when first imported
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    registry.register(ServerCollector(str(directory)))
    _server, _thread = start_http_server(bind.port, addr=bind.host, registry=registry)


def close_inherited() -> None:
    """In a forked worker: close the parent's listening socket (only the parent answers)."""
    if _server is not None:
        with contextlib.suppress(OSError):
            _server.socket.close()


def worker_ended(pid: int) -> None:
    """In the parent: drop the live-only gauge files of worker ``pid`` (metrics on only)."""
    directory = os.environ.get(MULTIPROC_VARIABLE)
    if _server is None or not directory:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, directory)


class ServerCollector:
    """The workers' summed series, plus ``cashman_jwks_key_set_age_seconds`` computed now."""

    def __init__(self, directory: str) -> None:
        """Sums the files in ``directory`` (imports prometheus_client: call it after ``start``
        has set ``PROMETHEUS_MULTIPROC_DIR``)."""
        from prometheus_client.multiprocess import MultiProcessCollector

        self._workers = MultiProcessCollector(None, path=directory)

    def collect(self) -> Iterator[Any]:
        """Every family of the multiprocess files, then the key set age per issuer."""
        from prometheus_client.core import GaugeMetricFamily

        age = GaugeMetricFamily(
            "cashman_jwks_key_set_age_seconds",
            "Seconds since the last successful JWKS fetch of the oldest key set a live worker "
            "uses, by issuer.",
            labels=["issuer"],
        )
        now = time.time()
        for family in self._workers.collect():
            if family.name == LAST_SUCCESS:
                for sample in family.samples:
                    age.add_metric([sample.labels["issuer"]], max(0.0, now - sample.value))
            yield family
        yield age
