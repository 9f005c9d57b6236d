"""What the app counts with metrics on, seen in one process (SPEC §6 "Metrics").

A production worker counts into prometheus_client's multiprocess files; here
the app is built the way a worker builds it (``METRICS_BIND`` set and a
``PROMETHEUS_MULTIPROC_DIR``), and the series are read from this process.
Counts are compared before and after, since the series live for the process.
"""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from auth.testing import DPoPKey, dpop_headers
from cashman import create_app
from cashman.config import Settings
from tests.ops.test_health import break_database

DATABASE_ERRORS = "cashman_database_errors_total"


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def counting_app(env, tmp_path, monkeypatch):
    (tmp_path / "metrics").mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    return create_app(Settings.from_env({**env, "METRICS_BIND": "127.0.0.1:9100"}))


def test_a_database_outage_is_counted_by_error_class(env, jwks, kit, tmp_path, monkeypatch):
    app = counting_app(env, tmp_path, monkeypatch)
    token = kit.mint(scopes=["read:transactions"])
    break_database(app)
    before = counted(DATABASE_ERRORS, error="OperationalError")
    resp = app.test_client().get("/incomes", headers={"Authorization": f"Bearer {token}"})
    assert (resp.status_code, resp.json["code"]) == (503, "database_unavailable")
    assert counted(DATABASE_ERRORS, error="OperationalError") == before + 1


def test_a_replay_store_outage_is_counted_as_a_database_error(
    env, jwks, kit, tmp_path, monkeypatch
):
    # a DPoP-only deployment answers 503 dpop_replay_unavailable on a database outage:
    # the alert on database errors must hear of it too
    base = "http://localhost"
    app = counting_app({**env, "API_BASE_URL": base}, tmp_path, monkeypatch)
    client_key = DPoPKey()
    token = client_key.mint_bound(kit, scopes=["read:transactions"])
    break_database(app)
    before = counted(DATABASE_ERRORS, error="OperationalError")
    proof = client_key.proof("GET", f"{base}/secured/ping", token)
    resp = app.test_client().get("/secured/ping", headers=dpop_headers(token, proof))
    assert (resp.status_code, resp.json["code"]) == (503, "dpop_replay_unavailable")
    assert counted(DATABASE_ERRORS, error="OperationalError") == before + 1


def test_an_unknown_method_is_one_label(env, jwks, tmp_path, monkeypatch):
    client = counting_app(env, tmp_path, monkeypatch).test_client()
    labels = {"route": "unmatched", "method": "other", "status": "405"}
    before = counted("cashman_http_requests_total", **labels)
    assert client.open("/ping", method="BREW").status_code == 405
    assert counted("cashman_http_requests_total", **labels) == before + 1


@pytest.mark.parametrize("method", ["get", "Post", "delete"])
def test_a_method_in_another_case_is_unmatched(env, jwks, tmp_path, monkeypatch, method):
    # methods are case-sensitive (RFC 9110 §9.1): `get` is no GET, so no rule took it
    client = counting_app(env, tmp_path, monkeypatch).test_client()
    labels = {"route": "unmatched", "method": "other", "status": "405"}
    routed = {"route": "/incomes", "method": "other", "status": "405"}
    before, before_routed = (counted("cashman_http_requests_total", **x) for x in (labels, routed))
    assert client.open("/incomes", method=method).status_code == 405
    assert counted("cashman_http_requests_total", **labels) == before + 1
    assert counted("cashman_http_requests_total", **routed) == before_routed


def test_without_metrics_bind_nothing_is_counted(env, jwks, tmp_path, monkeypatch):
    (tmp_path / "metrics").mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    client = create_app(Settings.from_env(env)).test_client()
    labels = {"route": "/ping", "method": "GET", "status": "200"}
    before = counted("cashman_http_requests_total", **labels)
    assert client.get("/ping").status_code == 200
    assert counted("cashman_http_requests_total", **labels) == before
