"""Draw a soak's JSON as the two PNG plots RELIABILITY.md embeds (matplotlib, Agg).

    .venv/bin/python bench/soak/plot.py bench/soak/results/soak.json

``<name>-rss.png``: each worker's resident memory over the run (MiB), one line per
worker process. ``<name>-latency.png``: p50 and p99 latency of each sample window
(ms, logarithmic), with the requests per second of the window on a second axis.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

SIZE_IN = (9, 4.5)
DPI = 110


def draw(result: dict, out: Path, name: str) -> list[Path]:
    """Write both plots of ``result`` (the soak's JSON) under ``out``; their paths."""
    meta, samples = result["meta"], result["samples"]
    title = (
        f"{meta['minutes']:g} min, {meta['instances']} instances x "
        f"{meta['workers_per_instance']} workers ({meta['entry']}), {meta['users']} clients"
    )
    return [
        _rss(samples, title, out / f"{name}-rss.png"),
        _latency(samples, title, out / f"{name}-latency.png"),
    ]


def _rss(samples: list[dict], title: str, path: Path) -> Path:
    series: dict[str, tuple[list[float], list[float]]] = {}
    for sample in samples:
        for worker, kib in sample["rss_kib"].items():
            times, values = series.setdefault(worker, ([], []))
            times.append(sample["t_s"] / 60)
            values.append(kib / 1024)
    fig, ax = plt.subplots(figsize=SIZE_IN)
    for worker, (times, values) in sorted(series.items()):
        ax.plot(times, values, label=worker, linewidth=1.2)
    ax.set(title=f"Worker RSS: {title}", xlabel="minutes", ylabel="RSS (MiB)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=3, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _latency(samples: list[dict], title: str, path: Path) -> Path:
    windows = [s for s in samples if s["p50_ms"] is not None]
    minutes = [s["t_s"] / 60 for s in windows]
    fig, ax = plt.subplots(figsize=SIZE_IN)
    ax.plot(minutes, [s["p50_ms"] for s in windows], label="p50", linewidth=1.2)
    ax.plot(minutes, [s["p99_ms"] for s in windows], label="p99", linewidth=1.2)
    ax.set(title=f"Latency through HAProxy: {title}", xlabel="minutes", ylabel="ms")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    rate = ax.twinx()
    spans = [b["t_s"] - a["t_s"] for a, b in zip([{"t_s": 0.0}, *samples], samples, strict=False)]
    per_s = {s["t_s"]: s["requests"] / span for s, span in zip(samples, spans, strict=True) if span}
    rate.plot(
        minutes,
        [per_s.get(s["t_s"], 0) for s in windows],
        color="grey",
        alpha=0.4,
        linewidth=1,
        label="requests/s",
    )
    rate.set_ylabel("requests/s")
    rate.set_ylim(bottom=0)
    lines = ax.get_legend_handles_labels()
    more = rate.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def main(argv: list[str]) -> int:
    """``plot.py <soak.json>``: draw it again (beside the JSON file)."""
    if len(argv) != 1:
        print("usage: bench/soak/plot.py <soak.json>", file=sys.stderr)
        return 2
    source = Path(argv[0])
    for path in draw(json.loads(source.read_text()), source.parent, source.stem):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
