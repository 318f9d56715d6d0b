"""The simulator against a real swarm: `scripts/validate.py` in a small form.

One real run of the six-host lab (network namespaces, capped uploads, 1 % loss; root only,
skipped elsewhere with the reason, run in CI) and the simulator on the same scenario with the
run's measured arrival times: the simulated median completion time must be within
`TOLERANCE` of the measured one. The full comparison (several runs, a bigger file, the 15 %
target) is the script's, not a test's.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType

import pytest
from p2pshare_sim import load

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "validate.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("p2pshare_sim_validate", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


validate = _script()
_why = validate.missing()

# A small run is a few seconds of transfer, where start-up (connections, the metainfo, the
# first pieces) weighs more than in the script's runs, one real run is noisier than the
# script's median of five, and real processes slow down when the machine is loaded: a
# tolerance wider than the script's 15 %. Measured at a load average of 6 on 2 cores (3 runs
# of this size): the simulated median 1 % off, single runs' medians within 5 % of each other.
TOLERANCE = 0.20
SHARE_TOLERANCE = 0.08  # of all bytes uploaded (single runs spread by 2 points)
PIECES = 96  # 6 MiB in 64 KiB pieces: about 10 s of transfer


def test_comparison_plumbing_without_a_lab() -> None:
    """The comparison's arithmetic, per host and per rank, on made-up numbers."""
    measured = [[10.0, 12.0, 14.0], [11.0, 13.0, 15.0]]
    simulated = [[9.0, 12.0, 15.0], [10.0, 13.0, 16.0], [11.0, 14.0, 17.0]]
    c = validate.compare(measured, simulated)
    assert c["hosts"]["h1"]["measured"] == 10.5 and c["hosts"]["h1"]["simulated"] == 10.0
    assert c["ranks"]["median"]["measured"] == 12.5
    assert c["ranks"]["median"]["simulated"] == 13.0
    assert c["ranks"]["median"]["error"] == pytest.approx(0.04)
    assert c["ranks"]["max"]["measured_min"] == 14.0
    assert "| median | 12.5 |" in validate._table(c)
    times = validate.simulate(load("six-hosts-lossy-lan").with_overrides(pieces=16), [0.0] * 5, 1)
    assert len(times) == 5 and all(t > 0 for t in times)


def test_replaying_a_report_needs_no_lab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--replay` re-simulates the runs of an earlier --json report (after a model change),
    and the queue samples give each host's mean queueing delay."""
    downloaders = [
        {"host": h, "arrival": 0.1 * h, "completion": 2.0 + h, "cpu": 0.5} for h in range(1, 6)
    ]
    wire = [{"host": 0, "uploaded": 1000, "sent": 1049, "packets": 1, "dropped": 0}]
    run = {"downloaders": downloaders, "seeder_cpu": 0.3, "wall": 9.0, "load_before": 1.0}
    run |= {"load_after": 1.0, "wire": wire}
    backlog = {"0": [0] * 10 + [250_000] * 80 + [0] * 10}  # 8 Mbit/s seeder: 0.25 s mid-run
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"runs": [run], "backlog": [backlog]}), encoding="utf-8")
    code = validate.main(["--replay", str(report), "--pieces", "16", "--seeds", "2"])
    out = capsys.readouterr().out
    assert "| median | 5.0 |" in out and "h0 +4.9%" in out and "h0 250 ms" in out
    assert code in (0, 1) and ("median within 15 %: yes" in out) == (code == 0)


@pytest.mark.slow
@pytest.mark.netns
@pytest.mark.timeout(240)
@pytest.mark.skipif(_why is not None, reason=_why or "")
def test_the_simulator_predicts_the_six_host_lab(tmp_path: Path) -> None:
    """When the downloaders complete, and who uploaded what: the seeder's share of all bytes
    sent (measured 37-39 % in runs of this size, simulated 38 %; a model that lost the
    downloaders' uploads would say 100 %)."""
    scenario = load("six-hosts-lossy-lan").with_overrides(pieces=PIECES)
    run = asyncio.run(validate.measure_once(scenario, tmp_path))
    measured = [d.completion for d in run.downloaders]
    arrivals = [d.arrival for d in run.downloaders]
    uploads: list[list[int]] = []
    simulated = [validate.simulate(scenario, arrivals, seed, uploads) for seed in (1, 2, 3)]
    c = validate.compare([measured], simulated)["ranks"]["median"]
    assert abs(c["error"]) <= TOLERANCE, (
        f"measured median {c['measured']:.1f} s, simulated {c['simulated']:.1f} s "
        f"(load average {run.load_before:.1f}→{run.load_after:.1f})"
    )
    real = [w.uploaded for w in run.wire]
    share = real[0] / sum(real)
    simulated_share = statistics.median(u[0] / sum(u) for u in uploads)
    assert abs(share - simulated_share) <= SHARE_TOLERANCE, (share, simulated_share)
