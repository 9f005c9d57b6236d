"""Prometheus series a worker counts (SPEC §6 "Metrics"), in prometheus_client's multiprocess mode.

Imported only when metrics are on (``METRICS_BIND``, and a production entry
that set ``PROMETHEUS_MULTIPROC_DIR`` before any worker started): prometheus_client
picks its file-backed values when first imported, so each worker writes its
counts to files in that directory, and the parent's listener
(``cashman.metrics_listener``) sums them. Without metrics this module is never
imported and a request pays nothing for it.

Label values are bounded: the route is the URL rule (``/incomes/<txid:tx_id>``,
never the raw path), an unknown method is ``other``, an outcome is a SPEC
``code``, an issuer one of the configured ones.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import Counter, Gauge, Histogram

from auth import AuthObserver
from cashman import app_events

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# a request no URL rule took (a 404, a 405: werkzeug routes by path and method at once)
UNMATCHED = "unmatched"

REQUESTS = Counter(
    "cashman_http_requests",
    "HTTP requests answered, by URL rule, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "cashman_http_request_duration_seconds",
    "Time from the first hook to the answer, by URL rule and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
AUTH_OUTCOMES = Counter(
    "cashman_auth_outcomes",
    "Guarded requests by authentication outcome (success or the SPEC error code) and scheme.",
    ["outcome", "scheme"],
)
JWKS_FETCHES = Counter(
    "cashman_jwks_fetches", "JWKS fetch attempts, by issuer (each worker fetches).", ["issuer"]
)
JWKS_FETCH_FAILURES = Counter(
    "cashman_jwks_fetch_failures", "JWKS fetch attempts that failed, by issuer.", ["issuer"]
)
# the oldest key set any live worker uses: what an alert on staleness needs
JWKS_LAST_SUCCESS = Gauge(
    "cashman_jwks_last_success_timestamp_seconds",
    "Unix time of the last successful JWKS fetch, the oldest among live workers, by issuer.",
    ["issuer"],
    multiprocess_mode="livemin",
)
TOKEN_CACHE_HITS = Counter(
    "cashman_token_cache_hits", "Access tokens served by the verified-token cache."
)
DPOP_REPLAYS_REFUSED = Counter(
    "cashman_dpop_replays_refused", "DPoP proofs refused as replays (RFC 9449 §11.1)."
)
DATABASE_ERRORS = Counter(
    "cashman_database_errors",
    "Requests that ended on a database failure, by error class.",
    ["error"],
)
IDEMPOTENT_REPLAYS = Counter(
    "cashman_idempotent_replays", "POSTs answered with the stored first response of their key."
)


class MetricsObserver(AuthObserver):
    """Counts what ``auth`` reports (``auth.events``); thread-safe, never raises."""

    def authentication(self, outcome: str, scheme: str | None) -> None:
        """One guarded request answered: ``success`` or its SPEC code."""
        AUTH_OUTCOMES.labels(outcome, scheme or "none").inc()

    def jwks_fetch(self, issuer: str, succeeded: bool, fetched_at: float) -> None:
        """One fetch attempt ended; a success dates the key set in use."""
        JWKS_FETCHES.labels(issuer).inc()
        if succeeded:
            JWKS_LAST_SUCCESS.labels(issuer).set(fetched_at)
        else:
            JWKS_FETCH_FAILURES.labels(issuer).inc()

    def token_cache_hit(self) -> None:
        """A token served without a signature check."""
        TOKEN_CACHE_HITS.inc()

    def dpop_replay_refused(self) -> None:
        """A replayed DPoP proof refused."""
        DPOP_REPLAYS_REFUSED.inc()


# (route, method, status) -> its counter and histogram: ``labels()`` validates and locks
# on every call, which cost more than the counting itself on a request as small as /ping
_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _request_series(route: str, method: str, status: int) -> tuple[Any, Any]:
    key = (route, method, status)
    series = _series.get(key)
    if series is None:
        series = (
            REQUESTS.labels(route, method, str(status)),
            REQUEST_SECONDS.labels(route, method),
        )
        _series[key] = series  # a race only builds the same children twice
    return series


def _count_request(response: Response) -> Response:
    rule = request.url_rule
    sent = request.environ["REQUEST_METHOD"]  # as sent: request.method is upper-cased
    # werkzeug routed `get` as GET; the method as sent took no rule (a 405, request_cycle)
    route = rule.rule if rule is not None and sent == request.method else UNMATCHED
    method = sent if sent in KNOWN_METHODS else "other"
    count, seconds = _request_series(route, method, response.status_code)
    count.inc()
    # set by the request log's first hook (cashman.request_log)
    started = g.get("request_started")
    if started is not None:
        seconds.observe(time.perf_counter() - started)
    return response


def _count_database_error(_sender: Any, *, error: str, **_extra: Any) -> None:
    DATABASE_ERRORS.labels(error).inc()


def _count_idempotent_replay(_sender: Any, **_extra: Any) -> None:
    IDEMPOTENT_REPLAYS.inc()


def init_app(app: Flask) -> AuthObserver:
    """Count ``app``'s requests, database errors and idempotent replays; the observer to
    give ``auth.Auth`` for the authentication and JWKS series."""
    app.after_request(_count_request)
    app_events.database_error.connect(_count_database_error, sender=app, weak=False)
    app_events.idempotent_replay.connect(_count_idempotent_replay, sender=app, weak=False)
    return MetricsObserver()
