"""How to start, probe and read each contender: the only contender-specific code in the harness.

Every contender is a pair of command lines (seeder, leecher), a readiness line, a probe that
proves the seeder really serves (TCP connect + the contender's own first handshake bytes), and a
completion marker: the moment a leecher has the file complete and verified, as a user sees it.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTENDERS = HERE / "contenders"
PY = sys.executable


@dataclass
class SeedInfo:
    """What a leecher needs to find the seeder; filled in from the seeder's ready line."""

    port: int
    link: str = ""
    torrent: Path | None = None
    infohash: bytes = b""


@dataclass
class Node:
    """One leecher slot: its listen port and download folder."""

    port: int
    out_dir: Path


@dataclass
class Trial:
    """What a trial asks of a contender (sizes in bytes, rates in bytes/s, 0 = uncapped)."""

    src: Path
    piece_size: int
    seed_rate: int = 0
    leech_rate: int = 0
    workdir: Path = field(default_factory=Path)


class Contender:
    name = "?"
    rate_caps = False  # can it cap upload rates (scenario c)?
    note = ""

    def seed_argv(self, t: Trial, port: int) -> list[str]:
        raise NotImplementedError

    def ready(self, line: str, info: SeedInfo) -> bool:
        """True on the seeder's ready line; may fill in `info` from it."""
        return line.startswith("READY")

    def leech_argv(self, t: Trial, info: SeedInfo, me: Node, earlier: list[Node]) -> list[str]:
        raise NotImplementedError

    def is_done(self, line: str) -> bool:
        return line.strip() == "DONE"

    def output(self, me: Node, t: Trial) -> Path:
        return me.out_dir / t.src.name

    def probe(self, sock: socket.socket, info: SeedInfo) -> bool:
        """Given a connected socket: did the seeder answer with its first protocol bytes?"""
        return bool(sock.recv(1))

    def warm_up(self, env: dict[str, str]) -> None:
        """Run once before any timed trial (see P2PShare.warm_up)."""


class BareLoop(Contender):
    name = "bareloop"
    note = "leechers each fetch from the seeder only (no peer-to-peer); SHA-1 per piece + file"

    def seed_argv(self, t: Trial, port: int) -> list[str]:
        script = str(CONTENDERS / "bareloop.py")
        return [PY, script, "seed", str(t.src), str(port), str(t.piece_size)]

    def leech_argv(self, t: Trial, info: SeedInfo, me: Node, earlier: list[Node]) -> list[str]:
        me.out_dir.mkdir(parents=True, exist_ok=True)
        out = str(self.output(me, t))
        return [PY, str(CONTENDERS / "bareloop.py"), "leech", "127.0.0.1", str(info.port), out]


class JsonB64(BareLoop):
    name = "jsonb64"
    note = "original design: JSON lines + base64, 1 request in flight, seeder-only"

    def seed_argv(self, t: Trial, port: int) -> list[str]:
        script = str(CONTENDERS / "jsonb64.py")
        return [PY, script, "seed", str(t.src), str(port), str(t.piece_size)]

    def leech_argv(self, t: Trial, info: SeedInfo, me: Node, earlier: list[Node]) -> list[str]:
        me.out_dir.mkdir(parents=True, exist_ok=True)
        out = str(self.output(me, t))
        return [PY, str(CONTENDERS / "jsonb64.py"), "leech", "127.0.0.1", str(info.port), out]


class Libtorrent(Contender):
    name = "libtorrent"
    rate_caps = True
    note = "TCP only, no DHT/LSD/UPnP/NAT-PMP/trackers; SHA-1 piece checks, no whole-file SHA-1"

    def seed_argv(self, t: Trial, port: int) -> list[str]:
        torrent = t.workdir / "bench.torrent"
        return [
            PY, str(CONTENDERS / "lt_node.py"), "seed", "--file", str(t.src), "--torrent",
            str(torrent), "--port", str(port), "--piece-size", str(t.piece_size),
            "--upload-rate", str(t.seed_rate),
        ]  # fmt: skip

    def ready(self, line: str, info: SeedInfo) -> bool:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "READY":
            info.infohash = bytes.fromhex(parts[2])
            return True
        return False

    def leech_argv(self, t: Trial, info: SeedInfo, me: Node, earlier: list[Node]) -> list[str]:
        argv = [
            PY, str(CONTENDERS / "lt_node.py"), "leech",
            "--torrent", str(t.workdir / "bench.torrent"),
            "--out", str(me.out_dir), "--port", str(me.port), "--upload-rate", str(t.leech_rate),
            "--peer", f"127.0.0.1:{info.port}",
        ]  # fmt: skip
        for other in earlier:  # full mesh, as a tracker would give; libtorrent has no PEX here
            argv += ["--peer", f"127.0.0.1:{other.port}"]
        return argv

    def probe(self, sock: socket.socket, info: SeedInfo) -> bool:
        pstr = b"BitTorrent protocol"
        sock.sendall(bytes([len(pstr)]) + pstr + bytes(8) + info.infohash + b"-BENCH0-" + bytes(12))
        return recv_n(sock, 68)[28:48] == info.infohash


class P2PShare(Contender):
    name = "p2pshare"
    rate_caps = True
    note = "clock stops at the leecher's `completed` JSON event (pieces SHA-256 + file SHA-1)"

    def __init__(self, exe: Path, name: str = "p2pshare") -> None:
        self.exe = exe
        self.name = name

    def warm_up(self, env: dict[str, str]) -> None:
        """Import everything once, so every timed run starts from cached bytecode.

        A fresh uv venv has no .pyc files and with PYTHONDONTWRITEBYTECODE set none are ever
        written: each start then compiled every module again (~0.1 s), which made a baseline
        build from a fresh worktree 5 % slower than the same code here (an A/A test showed it).
        """
        subprocess.run([str(self.exe), "--help"], env=env, stdout=subprocess.DEVNULL, check=False)

    def seed_argv(self, t: Trial, port: int) -> list[str]:
        argv = [str(self.exe), "share", str(t.src), "--port", str(port), "--host", "127.0.0.1"]
        argv += ["--piece-size", str(t.piece_size), "--json"]
        if t.seed_rate:
            argv += ["--max-upload-rate", str(t.seed_rate)]
        return argv

    def ready(self, line: str, info: SeedInfo) -> bool:
        event = parse_event(line)
        if event.get("event") == "started" and event.get("link"):
            info.link = str(event["link"])
            return True
        return False

    def leech_argv(self, t: Trial, info: SeedInfo, me: Node, earlier: list[Node]) -> list[str]:
        argv = [str(self.exe), "get", info.link, "-o", str(me.out_dir), "--exit-when-done"]
        argv += ["--json", "--host", "127.0.0.1", "--port", str(me.port)]
        if t.leech_rate:
            argv += ["--max-upload-rate", str(t.leech_rate)]
        return argv

    def is_done(self, line: str) -> bool:
        return '"completed"' in line and parse_event(line).get("event") == "completed"

    def probe(self, sock: socket.socket, info: SeedInfo) -> bool:
        length, msg_id = struct.unpack(">IB", recv_n(sock, 5))
        return bool(msg_id == 0 and length > 1)  # the acceptor's handshake frame [CONN-*]


def parse_event(line: str) -> dict[str, object]:
    if not line.startswith("{"):
        return {}
    try:
        doc = json.loads(line)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def recv_n(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed during probe")
        buf += chunk
    return buf


def probe_once(c: Contender, info: SeedInfo, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", info.port), timeout=timeout) as sock:
            return c.probe(sock, info)
    except OSError:
        return False


def wait_serving(c: Contender, info: SeedInfo, deadline: float) -> float | None:
    """Poll until a probe succeeds; the monotonic time it did, or None at the deadline."""
    while time.monotonic() < deadline:
        if probe_once(c, info):
            return time.monotonic()
        time.sleep(0.01)
    return None


def all_contenders(p2pshare_exe: Path | None, baseline: Path | None = None) -> list[Contender]:
    found: list[Contender] = []
    if p2pshare_exe is not None and p2pshare_exe.exists():
        found.append(P2PShare(p2pshare_exe))
    if baseline is not None:
        found.append(P2PShare(baseline, name="baseline"))
    try:
        import libtorrent  # noqa: F401

        found.append(Libtorrent())
    except ImportError:
        print("bench: libtorrent not importable; skipping it", file=sys.stderr)
    found += [BareLoop(), JsonB64()]
    return found
