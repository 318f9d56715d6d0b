"""Helpers for tests that run the real `p2pshare` command as separate processes on loopback."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


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
