"""Figures of a real `p2pshare demo` run for docs/explanation/swarm.md.

Runs the demo (a capped seeder and four downloaders, each a separate process on loopback, each
told about one other peer), reads every peer's event stream (`--keep DIR` writes them to
DIR/events.jsonl on one timeline), and writes, into docs/explanation/swarm/:

- pieces.svg        which peer each downloader got each piece from, over time
- availability.svg  how many copies of each piece the swarm held, over time
- run.md            the run's parameters and measured numbers (embedded by the page)
- demo-output.txt   what the demo printed (embedded by the "Watch a swarm" tutorial)

Run it from a checkout, then commit what it wrote:  .venv/bin/python docs/figures/swarm.py
`build_figures(events, out)` is what docs/tests/test_swarm_figures.py checks on a small run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "explanation" / "swarm"
PEERS = 4
SIZE = "8MiB"
PIECE_SIZE = "64KiB"
SEED_RATE = "2MiB"
COLOURS = ("#555555", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
MIXED = "#bbbbbb"  # a piece whose blocks came from several peers


def demo_args(peers: int, size: str, piece_size: str, seed_rate: str) -> list[str]:
    args = ["demo", "--peers", str(peers), "--size", size, "--piece-size", piece_size]
    return [*args, "--seed-rate", seed_rate]


def run_demo(workdir: Path, args: list[str]) -> tuple[Path, str]:
    """Run the demo; its events file, and what it printed (at a fixed terminal width)."""
    argv = [sys.executable, "-m", "p2pshare_cli", *args, "--keep", str(workdir)]
    env = {**os.environ, "COLUMNS": "100", "P2PSHARE_NO_LAN": "1"}
    done = subprocess.run(argv, check=True, timeout=600, capture_output=True, text=True, env=env)
    return workdir / "events.jsonl", done.stdout


@dataclass
class Run:
    names: list[str]  # seeder first, then the downloaders in start order
    pieces: int
    piece_size: int
    size: int
    started: dict[str, float]  # when each peer started (seconds after the seeder)
    completed: dict[str, float]  # when each downloader had every piece
    got: dict[str, list[tuple[float, int, str]]]  # downloader -> (at, piece, source)


def read_run(events: list[dict[str, Any]]) -> Run:
    names: list[str] = []
    ids: dict[str, str] = {}
    started: dict[str, float] = {}
    completed: dict[str, float] = {}
    got: dict[str, list[tuple[float, int, str]]] = defaultdict(list)
    meta: dict[str, Any] = {}
    for event in events:
        peer = event["peer"]
        if event["event"] == "started":
            names.append(peer)
            ids[event["peer_id"]] = peer
            started[peer] = event["at"]
        elif event["event"] == "metadata":
            meta = event
        elif event["event"] == "completed":
            completed[peer] = event["at"]
    for event in events:
        if event["event"] == "piece":
            sources = {ids.get(p, "?") for p in event["peers"]}
            source = sources.pop() if len(sources) == 1 else "several"
            got[event["peer"]].append((event["at"], event["index"], source))
    return Run(names, meta["pieces"], meta["piece_size"], meta["size"], started, completed, got)


def build_figures(events: list[dict[str, Any]], out: Path, seed_rate: int, command: str) -> Run:
    run = read_run(events)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pieces.svg").write_text(pieces_svg(run), encoding="utf-8")
    (out / "availability.svg").write_text(availability_svg(run), encoding="utf-8")
    (out / "run.md").write_text(numbers(run, seed_rate, command), encoding="utf-8")
    return run


def _end(run: Run) -> float:
    return max(run.completed.values(), default=1.0)


def pieces_svg(run: Run) -> str:
    """One panel per downloader: x time, y piece index, a mark per piece in its source's
    colour."""
    width, panel, left, top = 760, 120, 70, 30
    downloaders = run.names[1:]
    height = top + len(downloaders) * (panel + 20) + 40
    end = _end(run)
    colour = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(run.names)}
    parts = [_svg_head(width, height)]
    for row, name in enumerate(downloaders):
        y0 = top + row * (panel + 20)
        parts.append(_frame(left, y0, width - left - 20, panel, f"{name}: pieces received"))
        for at, index, source in run.got[name]:
            x = left + (width - left - 20) * at / end
            y = y0 + panel - panel * (index + 1) / run.pieces
            fill = colour.get(source, MIXED)
            h = max(panel / run.pieces, 1.5)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="3" height="{h:.1f}" fill="{fill}"/>'
            )
    parts.append(
        _time_axis(left, top + len(downloaders) * (panel + 20) - 15, width - left - 20, end)
    )
    legend = [(name, colour[name]) for name in run.names] + [("several", MIXED)]
    parts.append(_legend(left, height - 12, legend))
    return "\n".join([*parts, "</svg>"])


def availability_svg(run: Run) -> str:
    """x time, y piece index, shade: how many peers (the seeder included) held the piece."""
    width, left, top, bins = 760, 70, 30, 80
    rows = run.pieces
    cell_h = max(2.0, 240 / rows)
    plot_w, plot_h = width - left - 20, rows * cell_h
    height = int(top + plot_h + 70)
    end = _end(run)
    have_at: dict[int, list[float]] = defaultdict(list)
    for name in run.names[1:]:
        for at, index, _ in run.got[name]:
            have_at[index].append(at)
    total = len(run.names)
    parts = [_svg_head(width, height), _frame(left, top, plot_w, plot_h, "copies of each piece")]
    for index in range(rows):
        y = top + plot_h - cell_h * (index + 1)
        shades = [_shade(1 + sum(1 for at in have_at[index] if at <= end * (b + 0.5) / bins), total)
                  for b in range(bins)]  # fmt: skip
        b = 0
        while b < bins:  # one rectangle per run of equal shades
            run_end = b
            while run_end + 1 < bins and shades[run_end + 1] == shades[b]:
                run_end += 1
            x, w = left + plot_w * b / bins, plot_w * (run_end + 1 - b) / bins
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w + 0.3:.1f}" '
                f'height="{cell_h + 0.3:.1f}" fill="{shades[b]}"/>'
            )
            b = run_end + 1
    parts.append(_time_axis(left, top + plot_h, plot_w, end))
    legend = []
    for copies in range(1, total + 1):
        shade = int(235 - 200 * (copies - 1) / max(total - 1, 1))
        legend.append(
            (f"{copies} {'copy' if copies == 1 else 'copies'}", f"rgb({shade},{shade},255)")
        )
    parts.append(_legend(left, height - 12, legend))
    return "\n".join([*parts, "</svg>"])


def _shade(copies: int, total: int) -> str:
    level = int(235 - 200 * (copies - 1) / max(total - 1, 1))
    return f"rgb({level},{level},255)"


def numbers(run: Run, seed_rate: int, command: str) -> str:
    """The run's figures, as a markdown table (the page embeds it)."""
    first = min(run.started[n] for n in run.names[1:])
    d = _end(run) - first
    d_min = run.size / seed_rate  # Kumar-Ross: downloaders uncapped, so the seeder's upload
    served: dict[str, int] = defaultdict(int)
    for name in run.names[1:]:
        for _, _, source in run.got[name]:
            served[source] += 1
    total = sum(served.values())
    rows = [
        "| | |",
        "|---|---|",
        f"| the run | `{command}` |",
        f"| file | {run.size} bytes, {run.pieces} pieces of {run.piece_size} bytes |",
        f"| downloaders | {len(run.names) - 1}, started one after the other |",
        f"| seeder's upload cap u_s | {seed_rate} bytes/s |",
        f"| D, first downloader's start to last completion | {d:.2f} s |",
        f"| D_min = F / u_s (downloaders uncapped) | {d_min:.2f} s |",
        f"| D / D_min | {d / d_min:.2f} |",
    ]
    for name in run.names:
        share = served.get(name, 0)
        rows.append(
            f"| pieces served by {name} | {share} of {total} ({100 * share / total:.0f} %) |"
        )
    return "\n".join(rows) + "\n"


def _svg_head(width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'
        f'<rect width="{width}" height="{height}" fill="white"/>'
    )


def _frame(x: int, y: int, w: float, h: float, title: str) -> str:
    return (
        f'<rect x="{x}" y="{y}" width="{w:.1f}" height="{h:.1f}" fill="none" stroke="#999"/>'
        f'<text x="{x}" y="{y - 6}">{title}</text>'
        f'<text x="{x - 8}" y="{y + h:.1f}" text-anchor="end">0</text>'
        f'<text x="{x - 8}" y="{y + 10}" text-anchor="end">last</text>'
    )


def _time_axis(x: int, y: float, w: float, end: float) -> str:
    step = 1.0 if end <= 12 else 5.0
    ticks = []
    t = 0.0
    while t <= end + 1e-9:
        tx = x + w * t / end
        ticks.append(f'<text x="{tx:.1f}" y="{y + 16:.1f}" text-anchor="middle">{t:g}</text>')
        t += step
    label = f'<text x="{x + w:.1f}" y="{y + 30:.1f}" text-anchor="end">seconds</text>'
    return "".join(ticks) + label


def _legend(x: int, y: float, items: list[tuple[str, str]]) -> str:
    out = []
    for label, fill in items:
        out.append(f'<rect x="{x}" y="{y - 10:.1f}" width="12" height="12" fill="{fill}"/>')
        out.append(f'<text x="{x + 16}" y="{y:.1f}">{label}</text>')
        x += 24 + 7 * len(label)
    return "".join(out)


def parse_size(text: str) -> int:
    units = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def main() -> None:
    args = demo_args(PEERS, SIZE, PIECE_SIZE, SEED_RATE)
    with tempfile.TemporaryDirectory(prefix="p2pshare-swarm-figures-") as tmp:
        path, printed = run_demo(Path(tmp), args)
        events = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    run = build_figures(events, OUT, parse_size(SEED_RATE), "p2pshare " + " ".join(args))
    lines = [line.rstrip() for line in printed.splitlines()]  # (rich pads its table lines)
    (OUT / "demo-output.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(run.names) - 1} downloaders, {run.pieces} pieces")


if __name__ == "__main__":
    main()
