"""Figures and the D/D_min table of docs/explanation/swarm-at-scale.md, from the simulator.

Runs every shipped scenario (`p2pshare_sim/scenarios/*.toml`) at PEERS downloaders and PIECES
pieces with seed 1, and writes into docs/explanation/scale/:

- flash-crowd.svg  completions, upload utilisation and rarest-piece copies of the flash crowd
- scenarios.svg    the share of downloaders done over time (in units of D_min), per scenario
- table.md         one row per scenario: completion times, D_min, D/D_min, waste (embedded)
- classes.md       per-class medians of the scenarios with several classes (embedded)

Same seed, same figures. Run it from a checkout (a few minutes), then commit what it wrote:
    .venv/bin/python docs/figures/scale.py [PEERS PIECES]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from p2pshare_sim import builtin_names, load, simulate
from p2pshare_sim.plot import plot

OUT = Path(__file__).resolve().parents[1] / "explanation" / "scale"
PEERS = 50
PIECES = 64
SEED = 1


def _cell(value: float | None, fmt: str = "{:.1f}") -> str:
    return "—" if value is None else fmt.format(value)


def table(results: list[dict[str, Any]], walls: list[float]) -> str:
    """The markdown table of the runs."""
    lines = [
        "| scenario | done | median (s) | p95 (s) | max = D (s) | D_min (s) | D/D_min "
        "| wasted | wall (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r, wall in zip(results, walls, strict=True):
        c = r["completion"]
        done = f"{c['completed']}/{r['peers']}" + (" (stalled)" if r["stalled"] else "")
        wasted = f"{100 * r['wasted']['fraction_of_received']:.0f} %"
        lines.append(
            f"| {r['scenario']} | {done} | {_cell(c['median'])} | {_cell(c['p95'])} "
            f"| {_cell(c['max'])} | {r['bound']['d_min']:.1f} "
            f"| {_cell(r['d_over_dmin'], '{:.2f}')} | {wasted} | {wall:.0f} |"
        )
    return "\n".join(lines) + "\n"


def class_table(results: list[dict[str, Any]]) -> str:
    """Per-class medians of the scenarios with more than one class of downloader."""
    lines = [
        "| scenario | class | peers | median (s) | max (s) | uploaded (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if len(r["classes"]) < 2:
            continue
        for name, k in r["classes"].items():
            lines.append(
                f"| {r['scenario']} | {name} | {k['peers']} | {_cell(k['median'])} "
                f"| {_cell(k['max'])} | {k['uploaded_bytes'] / 1e6:.0f} |"
            )
    return "\n".join(lines) + "\n"


def compare(results: list[dict[str, Any]], path: Path) -> None:
    """Downloaders done over time (in D_min units), one line per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in results:
        d_min = r["bound"]["d_min"]
        series = r["series"]
        ax.plot(
            [t / d_min for t in series["t"]],
            [100 * c / r["peers"] for c in series["completed"]],
            label=r["scenario"],
        )
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("simulated time / D_min (Kumar–Ross)")
    ax.set_ylabel("downloaders done (%)")
    ax.set_xlim(0, 8)
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title(f"{results[0]['peers']} downloaders, {results[0]['pieces']} pieces, seed {SEED}")
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)


def main() -> None:
    peers = int(sys.argv[1]) if len(sys.argv) > 1 else PEERS
    pieces = int(sys.argv[2]) if len(sys.argv) > 2 else PIECES
    OUT.mkdir(parents=True, exist_ok=True)
    results, walls = [], []
    for name in builtin_names():
        start = time.perf_counter()
        result = simulate(load(name).with_overrides(peers=peers, pieces=pieces), SEED)
        walls.append(time.perf_counter() - start)
        results.append(result)
        print(f"{name}: {walls[-1]:.0f} s wall, D/D_min {result['d_over_dmin']}", flush=True)
        if name == "flash-crowd":
            plot(result, OUT / "flash-crowd.svg")
    compare(results, OUT / "scenarios.svg")
    (OUT / "table.md").write_text(table(results, walls), encoding="utf-8")
    (OUT / "classes.md").write_text(class_table(results), encoding="utf-8")


if __name__ == "__main__":
    main()
