"""Issue 12's tables from a side-by-side results file: summaries, paired ratios, Markdown.

Why apart from the bench: the numbers and the way they are read are two jobs. The bench
writes every round to JSON; this module turns that file into medians, per-round ranges
and the ratios of the targets table (paired per round, then the median), and prints
them as Markdown for BENCHMARKS.md. It can be rerun on any results file:

    python bench/compare_report.py bench/results/compare.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NamedTuple

from harness.apps import APPS_BY_KEY, ENDPOINTS
from harness.stats import paired_ratios, spread

CASHMAN_SERVERS = ("granian", "gunicorn")


class Target(NamedTuple):
    """One row of issue 12's targets: Cashman's ``endpoint`` over ``den_app``'s ``den_endpoint``.

    ``den_app`` may name ``{server}``: the same server as the Cashman side.
    """

    figure: str
    endpoint: str
    den_app: str
    den_endpoint: str
    limit: float


OWN, BARE = "cashman-{server}", "bare-{server}"
TARGETS = (
    Target(
        "`/secured/ping`, one repeated token, vs express's",
        "secured_one",
        "express",
        "secured_one",
        0.8,
    ),
    Target(
        "`/secured/ping`, pool of distinct tokens, vs express's",
        "secured_pool",
        "express",
        "secured_pool",
        1.0,
    ),
    Target("`/ping` vs the bare Flask app's, same server", "ping", BARE, "ping", 1.1),
    Target("`GET /incomes`, page of 50, vs own `/ping`", "incomes_get", OWN, "ping", 2.5),
    Target("`POST /incomes` vs own `/ping`", "incomes_post", OWN, "ping", 3.0),
)
CONTEXT = (  # (numerator app, endpoint, denominator app, endpoint): not targets, for reading
    ("bare-granian", "secured_one", "express", "secured_one"),
    ("bare-gunicorn", "secured_one", "express", "secured_one"),
    ("bare-granian", "secured_pool", "express", "secured_pool"),
    ("bare-gunicorn", "secured_pool", "express", "secured_pool"),
    ("cashman-granian", "ping", "cashman-gunicorn", "ping"),
    ("cashman-granian", "secured_one", "cashman-gunicorn", "secured_one"),
    ("express", "secured_one", "express", "ping"),
)
WRITE_TARGETS = {"sqlite": 50.0, "postgresql": 30.0}  # p99 ms, 8 connections, 60 s


def _cpu(results: dict, app: str, endpoint: str) -> list[float] | None:
    rounds = results["samples"].get(app, {}).get(endpoint)
    return [s["cpu_us_per_request"] for s in rounds] if rounds else None


def ratio(results: dict, num: tuple[str, str], den: tuple[str, str]) -> dict | None:
    """Per-round CPU ratio num/den, summarised; None when either side was not measured."""
    a, b = _cpu(results, *num), _cpu(results, *den)
    if a is None or b is None:
        return None
    per_round = paired_ratios(a, b)
    return {**spread(per_round), "rounds": per_round}


def summarise(results: dict) -> dict:
    """Medians and ranges per app and endpoint, the target ratios, the context ratios."""
    apps = {}
    for app, by_endpoint in results["samples"].items():
        apps[app] = {
            e: {
                "cpu_us": spread([s["cpu_us_per_request"] for s in ss]),
                "rps": spread([s["rps"] for s in ss]),
                "p50_ms": spread([s["p50_ms"] for s in ss])["median"],
                "p99_ms": spread([s["p99_ms"] for s in ss])["median"],
            }
            for e, ss in by_endpoint.items()
        }
    targets = []
    for t in TARGETS:
        for server in CASHMAN_SERVERS:
            num = (f"cashman-{server}", t.endpoint)
            r = ratio(results, num, (t.den_app.format(server=server), t.den_endpoint))
            if r is not None:
                row = {"figure": t.figure, "server": server, "target": t.limit, **r}
                targets.append({**row, "met": r["median"] <= t.limit})
    context = []
    for na, ne, da, de in CONTEXT:
        r = ratio(results, (na, ne), (da, de))
        if r is not None:
            context.append({"num": [na, ne], "den": [da, de], **r})
    return {"apps": apps, "targets": targets, "context": context}


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _target_cell(t: dict | None) -> str:
    if t is None:
        return "not measured"
    verdict = "met" if t["met"] else "**missed**"
    return f"**{_x(t['median'])}** ({_x(t['min'])}-{_x(t['max'])}), {verdict}"


def _write_cell(writes: list[dict], server: str, db: str) -> str:
    w = next((w for w in writes if w["app"] == f"cashman-{server}" and w["database"] == db), None)
    if w is None:
        return "not measured"
    verdict = "met" if w["p99_ms"] <= WRITE_TARGETS[db] else "**missed**"
    return (
        f"**{w['p99_ms']:.1f} ms** (p50 {w['p50_ms']:.1f} ms, {w['rps']:.0f} req/s); "
        f"{w['acknowledged']} acknowledged, all stored; {verdict}"
    )


def targets_table(results: dict, summary: dict) -> list[str]:
    """Issue 12's targets table, one column per Cashman server."""
    lines = [
        "| figure | target | Cashman on granian | Cashman on gunicorn |",
        "|---|---|---|---|",
    ]
    found = {(t["figure"], t["server"]): t for t in summary["targets"]}
    for t in TARGETS:
        cells = [_target_cell(found.get((t.figure, server))) for server in CASHMAN_SERVERS]
        lines.append(f"| {t.figure} | <= {t.limit}x | {cells[0]} | {cells[1]} |")
    writes = results.get("writes") or []
    for db, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        cells = [_write_cell(writes, s, db) for s in CASHMAN_SERVERS]
        target = f"<= {WRITE_TARGETS[db]:.0f} ms"
        figure = f"{label} `POST /incomes` p99, 8 connections, 60 s"
        lines.append(f"| {figure} | {target} | {cells[0]} | {cells[1]} |")
    return lines


def per_app_table(summary: dict) -> list[str]:
    """CPU per request and throughput for every app and endpoint."""
    lines = [
        "| app | endpoint | CPU us/request, median | range over rounds | req/s, median | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for app, by_endpoint in summary["apps"].items():
        for endpoint in ENDPOINTS:
            m = by_endpoint.get(endpoint)
            if m is None:
                continue
            c = m["cpu_us"]
            lines.append(
                f"| {APPS_BY_KEY[app].label} | {ENDPOINTS[endpoint]} | **{c['median']:.0f}** | "
                f"{c['min']:.0f}-{c['max']:.0f} | {m['rps']['median']:.0f} | {m['p99_ms']:.1f} |"
            )
    return lines


def markdown(results: dict) -> str:
    """Every table of the run, in Markdown."""
    summary = results.get("summary") or summarise(results)
    a, m = results["args"], results["machine"]
    head = (
        f"{a['rounds']} rounds x {a['seconds']:.0f} s per load, wrk {a['connections']} "
        f"connections on loopback, {a['workers']} workers x {a['threads']} threads, "
        f"pool of {a['pool']} tokens; "
        f"{m['nproc']} cores ({m['cpu']}), load average {results.get('loadavg_start', '?')} at "
        f"start, {results.get('loadavg_end', '?')} at the end; Cashman on granian via "
        f"{results.get('cashman_granian_entry', '?')}."
    )
    if results.get("note"):
        head = f"**{results['note']}** {head}"
    out = ["### Targets (server CPU per request, paired per round, median (range))", "", head, ""]
    out += targets_table(results, summary)
    out += ["", "### CPU per request by app and endpoint", "", *per_app_table(summary)]
    out += ["", "Context (not targets), CPU per request, paired per round:", ""]
    for c in summary["context"]:
        num, den = f"{c['num'][0]} {c['num'][1]}", f"{c['den'][0]} {c['den'][1]}"
        out.append(f"- {num} / {den}: {_x(c['median'])} ({_x(c['min'])}-{_x(c['max'])})")
    out += ["", "Servers (each bound to a free port on 127.0.0.1):", ""]
    out += [f"- {app}: `{cmd}`" for app, cmd in results.get("commands", {}).items()]
    fetches = ", ".join(f"{k} {v}" for k, v in results["jwks_fetches"].items())
    out += ["", f"JWKS fetches in {results['server_seconds']:.0f} s of server life: {fetches}."]
    writes = results.get("writes") or []
    if writes:
        out += [
            "",
            "### Writes: `POST /incomes`, wrk 8 connections",
            "",
            "| server | database | seconds | req/s | p50 ms | p99 ms | CPU us/request | "
            "acknowledged (201) | rows stored |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for w in writes:
            out.append(
                f"| {APPS_BY_KEY[w['app']].label} | {w['database']} | {w['seconds']:.0f} | "
                f"{w['rps']:.0f} | {w['p50_ms']:.1f} | {w['p99_ms']:.1f} | "
                f"{w['cpu_us_per_request']:.0f} | {w['acknowledged']} | {w['stored']} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python bench/compare_report.py RESULTS.json", file=sys.stderr)
        return 2
    print(markdown(json.loads(Path(argv[0]).read_text(encoding="utf-8"))), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
