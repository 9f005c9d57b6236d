"""The plot BENCHMARKS.md links: server CPU per request by app and endpoint (PNG).

Bars are the medians over rounds, whiskers the per-round range (min to max), one group
per endpoint, one colour per app. matplotlib's Agg backend: no display needed. Rerun it
on any results file:

    python bench/compare_plot.py bench/results/compare.json [OUT.png] [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: CI and servers have no display

import matplotlib.pyplot as plt
from harness.apps import APPS, ENDPOINTS
from harness.servers import BENCH
from harness.stats import spread

DEFAULT_PNG = BENCH / "cpu-per-request.png"
SHORT = {
    "ping": "GET /ping",
    "secured_one": "GET /secured/ping\none token",
    "secured_pool": "GET /secured/ping\ndistinct tokens",
    "incomes_get": "GET /incomes\npage of 50",
    "incomes_post": "POST /incomes",
}


def plot(results: dict, out: Path | None = None) -> Path:
    """Draw the chart of ``results`` (a bench_compare results dict) to ``out``; its path."""
    out = out or DEFAULT_PNG
    samples = results["samples"]
    apps = [a for a in APPS if a.key in samples]
    endpoints = [e for e in ENDPOINTS if any(e in samples[a.key] for a in apps)]
    width = 0.8 / max(1, len(apps))
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=110)
    for i, app in enumerate(apps):
        xs, heights, low, high = [], [], [], []
        for j, endpoint in enumerate(endpoints):
            rounds = samples[app.key].get(endpoint)
            if not rounds:
                continue
            s = spread([r["cpu_us_per_request"] for r in rounds])
            xs.append(j - 0.4 + width * (i + 0.5))
            heights.append(s["median"])
            low.append(s["median"] - s["min"])
            high.append(s["max"] - s["median"])
        bars = ax.bar(xs, heights, width, label=app.label, yerr=[low, high], capsize=3)
        ax.bar_label(bars, labels=[f"{h:.0f}" for h in heights], fontsize=7, padding=2)
    ax.set_xticks(range(len(endpoints)), [SHORT[e] for e in endpoints], fontsize=9)
    ax.set_ylabel("server CPU per request (us): median, whiskers = range over rounds")
    a = results["args"]
    title = (
        f"CPU per request, {a['workers']} workers each, wrk {a['connections']} connections, "
        f"{a['rounds']} rounds x {a['seconds']:.0f} s"
    )
    if a.get("quick"):
        title += " (quick smoke: not a measurement)"
    if results.get("note"):
        title = f"{results['note']}\n{title}"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("results", type=Path, help="a bench_compare.py results file")
    p.add_argument("out", type=Path, nargs="?", help=f"default: {DEFAULT_PNG.name} in bench/")
    p.add_argument("--note", help="replaces the file's note (e.g. PRELIMINARY: busy machine)")
    args = p.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    if args.note is not None:
        results["note"] = args.note
    print(plot(results, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
