"""`p2pshare simulate`: run a scenario on the swarm simulator (the real core, simulated network).

Numbers on stdout (a short table, or one JSON object with --json), a progress bar on a
terminal's stderr, a figure with --plot. Same scenario and seed, same numbers, bit for bit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from p2pshare_sim import ScenarioError, World, builtin_names, load, simulate

from p2pshare_cli.exit_codes import ExitCode

__all__ = ["simulate_command"]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.command(
    "simulate",
    context_settings=CONTEXT,
    help="Simulate SCENARIO: a scenario file (TOML), or a shipped one by name: "
    + ", ".join(builtin_names())
    + ".\n\nEvery simulated peer runs the real p2pshare core; the network is a flow-level "
    "model (capacities, latency, loss, fair sharing). Prints completion times, D/D_min against "
    "the Kumar-Ross bound, upload utilisation and wasted bytes.",
)
@click.argument("scenario")
@click.option("--peers", type=click.IntRange(min=1), help="Downloaders (overrides the file).")
@click.option("--pieces", type=click.IntRange(min=1), help="Pieces (overrides the file).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of every random draw.")
@click.option("--json", "json_output", is_flag=True, help="Print one JSON object.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a figure (.png or .svg; needs matplotlib).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr [default: when stderr is a terminal].",
)
def simulate_command(
    scenario: str,
    peers: int | None,
    pieces: int | None,
    seed: int,
    json_output: bool,
    plot: Path | None,
    progress: bool | None,
) -> None:
    """Run the scenario; numbers to stdout, optionally a figure."""
    try:
        chosen = load(scenario).with_overrides(peers=peers, pieces=pieces)
    except ScenarioError as exc:
        raise click.UsageError(str(exc)) from None
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise click.UsageError(f"--plot {plot}: the file name must end in .png or .svg")
    show = sys.stderr.isatty() if progress is None else progress
    if show:
        result = _with_bar(chosen.peers, lambda tick: simulate(chosen, seed, tick))
    else:
        result = simulate(chosen, seed)
    if plot is not None:
        from p2pshare_sim.plot import PlotUnavailable
        from p2pshare_sim.plot import plot as draw

        try:
            draw(result, plot)
        except PlotUnavailable as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(ExitCode.USAGE)
    if json_output:
        click.echo(json.dumps(result, sort_keys=True))
    else:
        click.echo(_table(result))


def _with_bar(total: int, run: Any) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("done · t = {task.fields[t]:.0f} s simulated · {task.fields[events]} events"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("sim", total=total, t=0.0, events=0)

        def tick(world: World) -> None:
            bar.update(task, completed=world.recorder.completed, t=world.now, events=world.events)

        result: dict[str, Any] = run(tick)
    return result


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _table(r: dict[str, Any]) -> str:
    c = r["completion"]
    ratio = r["d_over_dmin"]
    wasted = r["wasted"]
    lines = [
        f"scenario {r['scenario']}: {r['peers']} downloaders, {r['seeders']} seeder(s), "
        f"{r['pieces']} pieces of {r['piece_size'] // 1024} KiB, seed {r['seed']}",
        f"completion   min {_seconds(c['min'])}   median {_seconds(c['median'])}   "
        f"p95 {_seconds(c['p95'])}   max {_seconds(c['max'])}"
        + (f"   ({c['incomplete']} not done)" if c["incomplete"] else ""),
        f"bound        D_min {r['bound']['d_min']:.1f} s   D/D_min "
        + (f"{ratio:.2f}" if ratio is not None else "n/a (not all done)"),
        f"upload used  seeder {100 * r['utilisation']['seeder_mean']:.0f} %   "
        f"all peers {100 * r['utilisation']['swarm_mean']:.0f} %",
        f"wasted       {wasted['duplicate_bytes'] / 1e6:.1f} MB duplicate, "
        f"{wasted['corrupt_bytes'] / 1e6:.1f} MB corrupt "
        f"({100 * wasted['fraction_of_received']:.1f} % of received), {r['bans']} ban(s)",
    ]
    if r["stalled"]:
        lines.append("stalled      the last seeder left with pieces nobody else had: run stopped")
    for name, k in r["classes"].items():
        lines.append(
            f"  {name:<12} {k['peers']:>6} peers   median {_seconds(k['median'])}   "
            f"max {_seconds(k['max'])}   uploaded {k['uploaded_bytes'] / 1e6:.0f} MB"
        )
    lines.append(f"({r['events']} events, {r['simulated_seconds']:.0f} s simulated)")
    return "\n".join(lines)
