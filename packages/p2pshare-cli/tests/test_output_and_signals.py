"""The node and its output: a reader that never reads must not stall it, and SIGTERM stops it
like Ctrl-C (peers told, state saved, a message). Issue #15, hole 9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from p2pshare_cli.exit_codes import ExitCode
from p2pshare_cli.procs import wait_until

from .conftest import DONE_TIMEOUT, EVENT_TIMEOUT, Swarm, pieces_of, random_file, sha1_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def test_a_reader_that_never_reads_does_not_stall_the_download(
    swarm: Swarm, tmp_path: Path
) -> None:
    """`get --json` into a pipe nobody reads: 2 049 piece lines (~150 KB, more than a pipe
    holds) would block every write; the download still finishes and the process exits."""
    source = tmp_path / "data.bin"
    digest = random_file(source, 2048 * 16384 + 5)
    _, link = await swarm.seed("seeder", source)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "p2pshare_cli", "get", link, "-o", str(out), "--json",
         "--exit-when-done", "--host", "127.0.0.1"],
        stdout=subprocess.PIPE,  # never read until the process is gone
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DONE_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # polling the child's exit: nothing else to wait on
        assert proc.returncode == 0, "the node stalled on a full stdout pipe"
    finally:
        proc.kill()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
    assert sha1_file(out / "data.bin") == digest


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM delivery is POSIX")
async def test_sigterm_stops_like_ctrl_c(swarm: Swarm, tmp_path: Path) -> None:
    """SIGTERM: exit 143 with a message, every piece reported is kept, the peer is told
    (error SHUTDOWN), and the same command resumes."""
    source = tmp_path / "data.bin"
    digest = random_file(source, 3 * 1024 * 1024 + 7)
    seeder, link = await swarm.seed("seeder", source, "--max-upload-rate", "512KiB")
    leecher = await swarm.get("leecher", link)
    await wait_until(lambda: len(pieces_of(leecher)) >= 10, swarm.notify, DONE_TIMEOUT, "pieces")
    assert leecher.proc is not None
    os.kill(leecher.proc.pid, signal.SIGTERM)
    assert await leecher.wait_exit(EVENT_TIMEOUT) == ExitCode.TERMINATED
    assert "Terminated" in leecher.stderr and "Traceback" not in leecher.stderr
    # (an earlier disconnect is the leecher's probe connection, closed before the download)
    await seeder.wait_for(
        "peer-disconnected", EVENT_TIMEOUT, lambda e: "error 16" in e["reason"]
    )  # SHUTDOWN [ERR-8]
    before = set(pieces_of(leecher))
    again = await swarm.get("leecher", link, "--exit-when-done")
    assert await again.wait_exit(DONE_TIMEOUT) == 0
    meta = again.first("metadata")
    assert meta is not None and int(meta["have"]) >= len(before)
    assert sha1_file(tmp_path / "leecher" / "data.bin") == digest
