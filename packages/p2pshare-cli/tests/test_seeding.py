"""After the download, `get` seeds for a while and then ends on its own (issue #16)."""

from __future__ import annotations

from pathlib import Path

import pytest
from p2pshare_cli.seeding import SeedPolicy

from .conftest import DONE_TIMEOUT, Swarm, random_file, run_cli


def _stop(policy: SeedPolicy, *, now: float, last: float = 0.0, up: int = 0) -> str | None:
    return policy.reason_to_stop(
        now=now, completed_at=0.0, last_upload_at=last, uploaded=up, size=1000
    )


def test_default_policy_stops_at_ratio_one_or_when_idle() -> None:
    policy = SeedPolicy()
    assert policy.seeds and "ratio 1" in policy.describe() and "5 min" in policy.describe()
    assert _stop(policy, now=10, last=9, up=999) is None
    assert "1.00x" in (_stop(policy, now=10, last=9, up=1000) or "")
    assert _stop(policy, now=299, last=0) is None
    assert "no peer wanted anything" in (_stop(policy, now=300, last=0) or "")
    assert _stop(policy, now=400, last=200) is None  # uploads keep it going


def test_seed_time_and_exit_when_done() -> None:
    timed = SeedPolicy(ratio=None, seconds=60, idle=None)
    assert _stop(timed, now=59, up=10**9) is None
    assert "--seed-time" in (_stop(timed, now=60) or "")
    assert not SeedPolicy(ratio=None, seconds=0, idle=None).seeds
    assert SeedPolicy(ratio=None, seconds=None, idle=None).describe() == "until Ctrl-C"
    empty = SeedPolicy().reason_to_stop(now=0, completed_at=0, last_upload_at=0, uploaded=0, size=0)
    assert empty is not None


@pytest.mark.slow
async def test_get_seeds_then_exits_on_its_own(swarm: Swarm, tmp_path: Path) -> None:
    """No --exit-when-done: a line says it seeds and until when, then it exits 0 by itself."""
    source = tmp_path / "data.bin"
    random_file(source, 300_000)
    _, link = await swarm.seed("seeder", source)
    leecher = await swarm.get("leecher", link, "--seed-time", "0.02")  # 1.2 s
    assert await leecher.wait_exit(DONE_TIMEOUT) == 0, leecher.stderr
    assert "Seeding to 1 peer until ratio 1 or 1.2 s of seeding" in leecher.stderr
    assert "Stopped seeding: seeded for 1.2 s (--seed-time)." in leecher.stderr


def test_seed_forever_contradicts_exit_when_done() -> None:
    result = run_cli("get", "127.0.0.1:9", "--seed", "--exit-when-done")
    assert result.returncode == 2 and "contradicts" in result.stderr


@pytest.mark.slow
async def test_running_get_again_says_already_complete(swarm: Swarm, tmp_path: Path) -> None:
    """The same `get` twice: the second checks the file and exits 0; a different file of the
    same name and size is still refused (exit 5)."""
    source = tmp_path / "data.bin"
    random_file(source, 300_000)
    _, link = await swarm.seed("seeder", source)
    first = await swarm.get("leecher", link, "--exit-when-done")
    assert await first.wait_exit(DONE_TIMEOUT) == 0
    again = await swarm.get("leecher", link, "--exit-when-done", started=False)
    assert await again.wait_exit(DONE_TIMEOUT) == 0, again.stderr
    assert "Already complete" in again.stderr and "is the share's" in again.stderr
    (tmp_path / "leecher" / "data.bin").write_bytes(bytes(300_000))
    other = await swarm.get("leecher", link, "--exit-when-done", started=False)
    assert await other.wait_exit(DONE_TIMEOUT) == 5


@pytest.mark.slow
async def test_max_download_rate_holds_on_average(swarm: Swarm, tmp_path: Path) -> None:
    """2 MiB at --max-download-rate 512KiB cannot take less than (2 MiB - burst) / rate."""
    source = tmp_path / "data.bin"
    random_file(source, 2 * 1024 * 1024)
    _, link = await swarm.seed("seeder", source)
    leecher = await swarm.get("leecher", link, "--max-download-rate", "512KiB", "--exit-when-done")
    assert await leecher.wait_exit(DONE_TIMEOUT) == 0, leecher.stderr
    done = leecher.first("completed")
    assert done is not None and float(done["elapsed"]) >= (2 - 0.25 - 1) * 2  # 1 MiB read slack


def test_share_prints_its_link_before_any_progress(tmp_path: Path) -> None:
    """Piped output (no TTY): 'Sharing ...' and the link come first, then progress lines."""
    import subprocess
    import sys

    source = tmp_path / "f.bin"
    random_file(source, 100_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "p2pshare_cli", "share", str(source), "--host", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(10)
    assert first.startswith("Sharing f.bin") and second.startswith("Link: p2pshare://127.0.0.1:")
