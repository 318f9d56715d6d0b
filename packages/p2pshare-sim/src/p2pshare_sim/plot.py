"""A run's figure: completions, upload utilisation and rarest-piece copies over simulated time.

matplotlib is imported here only (the `plot` extra): the simulator and its numbers work without
it. The Agg backend renders to PNG or SVG (by the file's suffix) with no display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["PlotUnavailable", "plot"]


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def plot(result: dict[str, Any], path: Path) -> None:
    """Write the figure of `result` (a `simulate()` report) to `path` (.png or .svg)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable("plots need matplotlib: pip install 'p2pshare-sim[plot]'") from None
    series = result["series"]
    t = series["t"]
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    peers = result["peers"]
    top.plot(t, [100 * c / peers for c in series["completed"]], color="tab:green")
    d_min = result["bound"]["d_min"]
    top.axvline(d_min, color="grey", linestyle="--", label=f"Kumar–Ross D_min = {d_min:.0f} s")
    top.set_ylabel("downloaders done (%)")
    top.legend(loc="lower right")
    middle.plot(t, [100 * u for u in series["seeder_utilisation"]], label="seeder(s)")
    middle.plot(t, [100 * u for u in series["swarm_utilisation"]], label="all peers")
    middle.set_ylabel("upload used (%)")
    middle.set_ylim(0, 105)
    middle.legend(loc="lower right")
    bottom.step(t, series["rarest_piece_copies"], where="post", color="tab:purple")
    bottom.set_ylabel("copies of rarest piece")
    bottom.set_xlabel("simulated time (s)")
    ratio = result["d_over_dmin"]
    shown = f"{ratio:.2f}" if ratio is not None else "n/a (not all done)"
    fig.suptitle(
        f"{result['scenario']}: {peers} peers, {result['pieces']} pieces, "
        f"seed {result['seed']}, D/D_min = {shown}"
    )
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None} if path.suffix.lower() == ".svg" else None)
    plt.close(fig)
