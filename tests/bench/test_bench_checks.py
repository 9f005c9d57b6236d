"""The checks and sums the benchmarks rest on: a lost write is caught, ratios are
paired per round, a server's CPU includes every process it spawned. No speed is
asserted here (benchmarks are scripts under bench/, not timed tests)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from bench_writes import check_stored
from compare_report import summarise
from harness import Sample, proc
from harness.issuer import DISCOVERY_PATH, JWKSServer


def sample(requests: int, ids: tuple[int, ...]) -> Sample:
    return Sample("post", requests, 1.0, 0.1, 1.0, 2.0, acknowledged_ids=ids)


def test_check_stored_accepts_rows_in_flight_at_the_cut_off():
    rows = check_stored("w", [sample(3, (1, 2, 3))], stored={1, 2, 3, 4}, slack=8)
    assert rows == {"acknowledged": 3, "stored": 4, "in_flight_stored": 1}


@pytest.mark.parametrize(
    ("samples", "stored", "message"),
    [
        ([sample(3, (1, 2, 3))], {1, 3}, "1 acknowledged rows are not stored"),
        ([sample(3, (1, 2))], {1, 2}, "3 2xx answers but 2 were 201s with an id"),
        ([sample(2, (1, 1))], {1}, "an id was acknowledged twice"),
        ([sample(1, (1,))], set(range(1, 11)), "9 rows beyond the acknowledged ones"),
    ],
)
def test_check_stored_fails_on_a_lost_or_stray_row(samples, stored, message):
    with pytest.raises(SystemExit, match=message):
        check_stored("w", samples, stored=stored, slack=8)


def _rounds(*cpu_us: float) -> list[dict[str, float]]:
    return [{"cpu_us_per_request": c, "rps": 1.0, "p50_ms": 1.0, "p99_ms": 1.0} for c in cpu_us]


def test_target_ratios_are_paired_per_round_then_the_median():
    # per round 100/100, 300/200, 200/400: ratios 1.0, 1.5, 0.5 -> median 1.0, while the
    # ratio of the medians would be 200/200 = 1.0 only by chance; the range shows it
    results = {
        "samples": {
            "cashman-granian": {"ping": _rounds(100, 300, 200)},
            "bare-granian": {"ping": _rounds(100, 200, 400)},
        }
    }
    (target,) = summarise(results)["targets"]
    assert target["server"] == "granian"
    assert target["rounds"] == [1.0, 1.5, 0.5]
    assert (target["median"], target["min"], target["max"]) == (1.0, 0.5, 1.5)
    assert target["met"] is True  # 1.0 <= 1.1


BURNER = """
import os, time
child = os.fork()
if child == 0:
    end = time.process_time() + 0.3  # 0.3 s of CPU, however loaded the machine is
    while time.process_time() < end:
        pass
    os._exit(0)
os.waitpid(child, 0)  # reaped: its CPU moves to this process's cutime
print("done", flush=True)
time.sleep(30)
"""
SPAWNER = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", sys.argv[1]])  # stdout inherited
time.sleep(30)
"""


def test_cpu_of_a_tree_counts_live_and_reaped_descendants():
    # root (idle) -> child (idle, has reaped) -> grandchild (burnt 0.3 s, gone)
    root = subprocess.Popen(
        [sys.executable, "-c", SPAWNER, BURNER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert root.stdout is not None
        assert root.stdout.readline().strip() == "done"
        tree = proc.tree_of(root.pid)
        assert len(tree) == 2
        # /proc truncates utime and stime to clock ticks: allow a few, not the 0.3 s
        assert proc.cpu_seconds(root.pid) >= 0.25
        assert proc.cpu_seconds(tree[1]) >= 0.25
    finally:
        for pid in proc.tree_of(root.pid)[1:]:
            subprocess.run(["kill", str(pid)], check=False)
        root.kill()
        root.wait(timeout=10)
        if root.stdout is not None:
            root.stdout.close()


def test_jwks_fetches_are_counted_per_app():
    with JWKSServer({"keys": []}) as jwks:
        for _ in range(2):
            assert requests.get(jwks.jwks_url_for("app-a"), timeout=5).json() == {"keys": []}
        discovery = requests.get(jwks.issuer + DISCOVERY_PATH.lstrip("/"), timeout=5).json()
        assert discovery["jwks_uri"] == jwks.issuer + ".well-known/jwks.json"
        assert (jwks.fetches_of("app-a"), jwks.fetches_of("app-b"), jwks.fetches) == (2, 0, 2)


def test_dpop_bench_measures_each_listed_load_and_pairs_within_it(capsys):
    import bench_dpop

    args = bench_dpop.parse_args(["--connections", "2,8,2", "--paced", "0"])
    assert args.connections == (2, 8)  # each load once, in the order given

    def runs(*cpu_us: float) -> list[Sample]:
        return [Sample("x", 1000, 1.0, us * 1000 / 1e6, 1.0, 2.0) for us in cpu_us]

    samples = {}
    for endpoint in bench_dpop.ENDPOINTS:
        # at 2 connections DPoP is 1.5x Bearer in both rounds, at 8 it is 3x
        samples[f"SQLite {endpoint} c2 bearer"] = runs(200, 300)
        samples[f"SQLite {endpoint} c2 dpop"] = runs(300, 450)
        samples[f"SQLite {endpoint} c8 bearer"] = runs(100, 100)
        samples[f"SQLite {endpoint} c8 dpop"] = runs(300, 300)
    out = bench_dpop.summarise_http(args, samples, ["SQLite"])
    assert out["SQLite /secured/ping c2"]["ratio"]["median"] == pytest.approx(1.5)
    assert out["SQLite /secured/ping c8"]["ratio"]["median"] == pytest.approx(3.0)
    assert out["SQLite /secured/ping c8"]["connections"] == 8
    printed = capsys.readouterr().out
    assert "SQLite /secured/ping c2" in printed and "within" in printed and "OVER" in printed


def test_dpop_bench_pairs_the_paced_runs_apart_from_the_saturated_ones(capsys):
    import bench_dpop

    args = bench_dpop.parse_args(["--paced", "0.5"])
    assert bench_dpop.parse_args([]).paced == 0  # saturated only unless asked
    args.paced_targets = {f"SQLite {e} paced": [500.0, 500.0] for e in bench_dpop.ENDPOINTS}

    def runs(rps: float, *cpu_us: float) -> list[Sample]:
        return [Sample("x", int(rps), 1.0, us * rps / 1e6, 1.0, 2.0) for us in cpu_us]

    samples = {}
    for endpoint in bench_dpop.ENDPOINTS:
        samples[f"SQLite {endpoint} bearer"] = runs(3000, 100, 100)
        samples[f"SQLite {endpoint} dpop"] = runs(1000, 250, 250)
        samples[f"SQLite {endpoint} paced bearer"] = runs(500, 200, 200)
        samples[f"SQLite {endpoint} paced dpop"] = runs(500, 300, 360)
    out = bench_dpop.summarise_http(args, samples, ["SQLite"])
    assert out["SQLite /secured/ping"]["ratio"]["median"] == pytest.approx(2.5)
    paced = out["SQLite /secured/ping paced"]
    assert paced["ratio"]["median"] == pytest.approx(1.65)
    assert paced["requests_per_second"] == {"bearer": 500, "dpop": 500}
    printed = capsys.readouterr().out
    assert "SQLite /secured/ping paced" in printed and "req/s 500 / 500" in printed
    # no SPEC verdict on a paced pair (the limit compares the requests saturated)
    [paced_line] = [ln for ln in printed.splitlines() if "/secured/ping paced" in ln]
    assert "paced, not the SPEC's comparison" in paced_line and "WARNING" not in printed
    assert "SPEC <= 2.0x: OVER" in printed  # the saturated pair's verdict


def test_dpop_bench_flags_a_paced_run_short_of_its_rate(capsys):
    import bench_dpop

    def runs(rps: float) -> list[Sample]:
        return [Sample("x", int(rps), 1.0, 0.1, 1.0, 2.0)]

    samples = {
        "SQLite /secured/ping paced bearer": runs(500),
        "SQLite /secured/ping paced dpop": runs(400),
    }
    bench_dpop.summarise_pair(
        samples, "SQLite /secured/ping paced", 8, 2.0, {"SQLite /secured/ping paced": [500.0]}
    )
    assert "WARNING: SQLite /secured/ping paced: a run fell short" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["-0.5", "1.5", "half"])
def test_dpop_bench_refuses_a_pace_that_is_no_share(value, capsys):
    import bench_dpop

    with pytest.raises(SystemExit):
        bench_dpop.parse_args(["--paced", value])
    assert "--paced" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1", "2,x", ""])
def test_dpop_bench_refuses_a_load_wrk_cannot_run(value, capsys):
    import bench_dpop

    with pytest.raises(SystemExit):
        bench_dpop.parse_args(["--connections", value])
    assert "--connections" in capsys.readouterr().err
