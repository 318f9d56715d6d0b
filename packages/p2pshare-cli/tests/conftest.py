"""Helpers for tests that run the real `p2pshare` command as separate processes on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from p2pshare_cli.procs import PeerProcess

# Nodes started by tests never multicast on the machine's network (LAN discovery); the
# network-namespace tests turn it back on for their own hosts.
os.environ.setdefault("P2PSHARE_NO_LAN", "1")

# The peers are started as a terminal starts a command in the foreground: Ctrl-C (SIGINT)
# stops them. A shell without job control starts a background job (`pytest ... &` in a script)
# with SIGINT ignored, every child inherits that, and a node rightly keeps ignoring it: the
# Ctrl-C test then waited 30 s for an exit that could not come. A handled signal is reset to
# its default in each child at exec; an ignored one is not.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

PIECE = "16KiB"
EVENT_TIMEOUT = 30.0
DONE_TIMEOUT = 60.0


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run `python -m p2pshare_cli ARGS` to completion (bounded by timeout)."""
    return subprocess.run(
        [sys.executable, "-m", "p2pshare_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def random_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha1(data).hexdigest()


def sha1_file(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def closed_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, str]:
    """A file that is not a multiple of the 16 KiB test piece size."""
    folder = tmp_path / "seed"
    folder.mkdir()
    path = folder / "data.bin"
    return path, random_file(path, 3 * 1024 * 1024 + 12_345)


class Swarm:
    """Starts peers as separate processes and stops them all at the end of the test."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.notify = asyncio.Event()
        self.procs: list[PeerProcess] = []

    async def spawn(self, name: str, *args: str, started: bool = True) -> PeerProcess:
        # Tests stay on loopback: without --host a node listens everywhere and its link names
        # this machine's network address.
        host = () if "--host" in args else ("--host", "127.0.0.1")
        proc = PeerProcess(name, [*args, "--json", *host], notify=self.notify)
        self.procs.append(proc)
        await proc.start()
        if started:
            await proc.wait_for("started", EVENT_TIMEOUT)
        return proc

    async def seed(self, name: str, path: Path, *extra: str) -> tuple[PeerProcess, str]:
        proc = await self.spawn(name, "share", str(path), "--piece-size", PIECE, *extra)
        started = proc.first("started")
        assert started is not None
        return proc, str(started["link"])

    async def get(self, name: str, link: str, *extra: str, started: bool = True) -> PeerProcess:
        out = self.tmp / name
        out.mkdir(exist_ok=True)
        return await self.spawn(name, "get", link, "-o", str(out), *extra, started=started)

    async def close(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.procs), return_exceptions=True)


@pytest.fixture
async def swarm(tmp_path: Path) -> AsyncIterator[Swarm]:
    s = Swarm(tmp_path)
    try:
        yield s
    finally:
        await s.close()


def link_to(proc: PeerProcess, share_link: str) -> str:
    started = proc.first("started")
    assert started is not None
    return f"p2pshare://127.0.0.1:{started['listen_port']}/{share_link.rsplit('/', 1)[1]}"


def peer_id(proc: PeerProcess) -> str:
    started = proc.first("started")
    assert started is not None
    return str(started["peer_id"])


def pieces_of(proc: PeerProcess) -> list[int]:
    return [int(e["index"]) for e in proc.all("piece")]
