"""Fixtures: a real reference node process, and in-process runs of single cases."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Nodes started by tests never multicast on the machine's network (LAN discovery); the
# network-namespace tests turn it back on for their own hosts.
os.environ.setdefault("P2PSHARE_NO_LAN", "1")

# pytest's importlib mode names this file "conformance.tests.conftest" and registers a stub
# "conformance" package for it, shadowing the real one; drop the stub so imports find the suite.
if getattr(sys.modules.get("conformance"), "__file__", None) is None:
    sys.modules.pop("conformance", None)
sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[2]
P2PSHARE = REPO / ".venv" / "bin" / "p2pshare"
LINK = re.compile(r"p2pshare://\S+")


class NodeProcess:
    """`p2pshare share FILE --port 0` running in the background; `link` parsed from stdout."""

    def __init__(self, path: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [str(P2PSHARE), "share", str(path), "--port", "0", "--host", "127.0.0.1", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.output: list[str] = []
        self.link = self._wait_for_link(deadline=time.monotonic() + 20)
        self._wait_for_listener(deadline=time.monotonic() + 10)

    def _wait_for_listener(self, deadline: float) -> None:
        """The link can be printed a moment before the node accepts (reported to the node
        owner): wait until a connection succeeds."""
        host, port = self.address.rsplit(":", 1)
        while True:
            try:
                socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.02)

    def _wait_for_link(self, deadline: float) -> str:
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            found = LINK.search(line)
            if found:
                return found.group(0)
        self.stop()
        raise RuntimeError("no link printed by p2pshare share:\n" + "".join(self.output))

    @property
    def address(self) -> str:
        return self.link.split("://", 1)[1].split("/", 1)[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()


def shared_file(directory: Path, size: int = 300_000, name: str = "shared.bin") -> Path:
    path = directory / name
    path.write_bytes(bytes((i * 31 + i // 997) % 256 for i in range(size)))
    return path


@pytest.fixture(scope="module")
def reference_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    if not P2PSHARE.exists():
        pytest.skip("p2pshare CLI not installed in .venv")
    # The suite connects from one address (127.0.0.1) and its storm cases open dozens of
    # connections at once: allow them, as SEC-6 lets an operator do (docs: conformance).
    node = NodeProcess(shared_file(tmp_path_factory.mktemp("ref")), "--max-per-host", "100")
    yield node
    node.stop()
