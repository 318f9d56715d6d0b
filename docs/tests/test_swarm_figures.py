"""docs/figures/swarm.py on a small real demo run: the demo records every peer's events with
--keep, and the figures show every piece every downloader verified."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "figures"))

import swarm

pytestmark = pytest.mark.slow


def test_figures_of_a_small_demo_run(tmp_path: Path) -> None:
    args = swarm.demo_args(peers=2, size="1MiB", piece_size="64KiB", seed_rate="1MiB")
    path, printed = swarm.run_demo(tmp_path / "demo", args)
    assert "Who served whom" in printed
    events = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    run = swarm.build_figures(events, tmp_path / "out", swarm.parse_size("1MiB"), "demo")
    assert run.names[0] == "seeder" and len(run.names) == 3
    assert all(sorted(i for _, i, _ in run.got[n]) == list(range(16)) for n in run.names[1:])
    marks = (tmp_path / "out" / "pieces.svg").read_text("utf-8").count('width="3"')
    assert marks == 2 * 16
    table = (tmp_path / "out" / "run.md").read_text("utf-8")
    assert "| D / D_min |" in table and "| pieces served by seeder |" in table
