"""Scripted hostile peers against a real downloading Node, beside an honest seeder (loopback).

Issue #15's holes 2, 4, 5 and 7 and the misbehaviours a stranger can try on a downloader. Each
scenario asserts: a clear error, a dropped connection or one ban; the download finishes from the
honest peer (or, when no honest peer exists, ends with a clear message); nothing is written
outside the download folder; and, under floods, bounded memory (tracemalloc peak, printed).
The seeder's side of hostile input (garbage, storms, wrong-state messages aimed at a seeder)
is the conformance suite's, run against the reference node.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from p2pshare_core import constants as C
from p2pshare_core.codec import encode
from p2pshare_core.events import Bitfield, Handshake
from p2pshare_core.metainfo import Metainfo
from p2pshare_node import events as ev
from p2pshare_node.config import NodeConfig
from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.node import Node
from p2pshare_node.sharing import build_metainfo

from .hostile_peer import Behaviour, HostilePeer
from .recorder import Recorder

pytestmark = pytest.mark.timeout(90)
PIECE = 16_384
SIZE = 40 * PIECE + 123  # 41 pieces, the last one short
RATE = 512 * 1024  # honest seeder's upload cap: the hostile peer stays in play for a while


class Scene:
    """The shared file, an honest seeder, and a downloader into `out` (all torn down)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        seed_dir = tmp / "seed"
        seed_dir.mkdir()
        self.path = seed_dir / "data.bin"
        self.data = os.urandom(SIZE)
        self.path.write_bytes(self.data)
        self.meta: Metainfo = build_metainfo(self.path, PIECE)
        self.out = tmp / "out"
        self.nodes: list[Node] = []
        self.peers: list[HostilePeer] = []

    async def seeder(self, **extra: object) -> Node:
        config = NodeConfig(share_path=self.path, piece_size=PIECE, **extra)  # type: ignore[arg-type]
        node = Node(config)
        self.nodes.append(node)
        await node.start()
        return node

    async def hostile(self, behaviour: Behaviour, **extra: object) -> HostilePeer:
        peer = HostilePeer(behaviour, self.meta, self.data, **extra)  # type: ignore[arg-type]
        self.peers.append(peer)
        await peer.start()
        return peer

    def leecher(self, *bootstrap: tuple[str, int], **extra: object) -> tuple[Node, Recorder]:
        config = NodeConfig(
            output_dir=self.out,
            share_id=self.meta.share_id,
            bootstrap=bootstrap,
            **extra,  # type: ignore[arg-type]
        )
        node = Node(config, peer_id=b"\xfe" * 20)
        self.nodes.append(node)
        return node, Recorder(node)

    async def assert_only_the_download_was_written(self) -> None:
        """After the nodes stop (a running download holds NAME.part.lock): only the file."""
        await self.close()
        assert sorted(p.name for p in self.out.iterdir()) == ["data.bin"]
        assert (self.out / "data.bin").read_bytes() == self.data
        assert sorted(p.name for p in self.tmp.iterdir()) == ["out", "seed"]
        assert sorted(p.name for p in (self.tmp / "seed").iterdir()) == ["data.bin"]

    async def close(self) -> None:
        for node in reversed(self.nodes):
            await node.close()  # (safe to call twice)
        for peer in self.peers:
            await peer.close()


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    s = Scene(tmp_path)
    try:
        yield s
    finally:
        await s.close()


def _down_reasons(rec: Recorder) -> list[str]:
    return [e.reason for e in rec.of(ev.PeerDown)]  # type: ignore[attr-defined]


# Each misbehaviour, and what the downloader must have said about it (None: legal, only slow).
VIOLATIONS = {
    Behaviour.CORRUPT: "banned",
    Behaviour.LYING_BITFIELD: None,
    Behaviour.LYING_HAVE: None,
    Behaviour.UNSOLICITED: "MSG-",
    Behaviour.TRUNCATED: "FRAME-8",
    Behaviour.OVERSIZED: "FRAME-3",
    Behaviour.WRONG_STATE: "STATE-2",
    Behaviour.OTHER_SHARE: "share",
    Behaviour.LYING_SUMMARY: "",
    Behaviour.GARBAGE: "FRAME-7",
    Behaviour.HOSTILE_NAME: "HS-10",
    Behaviour.SLOWLORIS: None,  # (its handshake deadline is HS-18's, a core test)
}


@pytest.mark.parametrize("behaviour", list(VIOLATIONS), ids=lambda b: b.value)
async def test_hostile_first_bootstrap_beside_an_honest_seeder(
    scene: Scene, behaviour: Behaviour
) -> None:
    """[BEH-16, SEC-3] The link names the hostile peer, --peer the honest seeder: the download
    finishes from the honest one, the hostile one is dropped (or banned) with a clear reason,
    and nothing is written outside the download folder."""
    honest = await scene.seeder(max_upload_rate=RATE)
    bad = await scene.hostile(behaviour)
    leecher, rec = scene.leecher(("127.0.0.1", bad.port), ("127.0.0.1", honest.listen_port))
    tracemalloc.start()
    try:
        await leecher.start()
        await asyncio.wait_for(leecher.wait_complete(), 60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # (both nodes and the hostile peer: a few 1 MiB read buffers, the file, bounded queues)
    assert peak < 24 * 2**20, f"{peak / 2**20:.1f} MiB"
    await scene.assert_only_the_download_was_written()
    expected = VIOLATIONS[behaviour]
    if expected == "banned":
        bans = rec.of(ev.PeerBanned)
        assert [(b.peer_id, b.host) for b in bans] == [(bad.peer_id.hex(), "127.0.0.1")]  # type: ignore[attr-defined]
        assert rec.of(ev.PieceBad)
    elif expected is not None:
        reasons = _down_reasons(rec)
        assert any(expected in r for r in reasons), reasons


async def _open(host: str, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the node from `source` (another 127/8 address: another "host")."""
    return await asyncio.open_connection(host[0], host[1], local_addr=(source, 0))  # type: ignore[arg-type]


async def _first_frame(reader: asyncio.StreamReader) -> int:
    """The message id of the first frame the node sends (0x00 handshake, 0x0F error)."""
    length, message_id = struct.unpack(">IB", await reader.readexactly(5))
    await reader.readexactly(length - 1)
    return message_id


async def test_connection_floods_do_not_lock_out_a_downloader(scene: Scene) -> None:
    """Hole 4 [SEC-6, SEC-7]: one host opens 50 connections that handshake and stay silent,
    20 more hosts open 10 half-open connections each; an honest downloader still gets in at
    once, and the seeder's memory stays bounded (a 4 KiB read buffer per connection before the
    handshake, not 1 MiB). Before: every slot was taken and `get` exited at once with "too
    many connections"; the flood cost 1 MiB per accepted socket."""
    seeder = await scene.seeder()
    target = ("127.0.0.1", seeder.listen_port)
    meta = scene.meta
    conns: list[asyncio.StreamWriter] = []
    tracemalloc.start()
    try:
        silent_ok = 0
        for n in range(50):  # one host: handshake, bitfield, then silence
            reader, writer = await _open(target, "127.0.0.66")
            conns.append(writer)
            if await _first_frame(reader) != 0:
                continue  # refused with an error as the first frame [SEC-6]
            hs = Handshake.for_share(
                peer_id=bytes([0x20, n]) + bytes(18),
                listen_port=0,
                share_id=meta.share_id,
                summary=meta.summary,
            )
            empty = Bitfield(bits=bytes(-(-meta.piece_count // 8)))
            writer.write(encode(hs) + encode(empty))
            silent_ok += 1
        for n in range(200):  # half-open: connect, never say anything
            _, writer = await _open(target, f"127.0.1.{n // 10 + 1}")
            conns.append(writer)
        await asyncio.sleep(0)  # (the node has accepted them by the time it answers the probe)
        leecher, rec = scene.leecher(target)
        await leecher.start()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\nflood: 250 connections, peak traced memory {peak / 2**20:.1f} MiB")
    try:
        await asyncio.wait_for(leecher.wait_complete(), 60)
    finally:
        for writer in conns:
            writer.close()
    assert silent_ok == C.MAX_CONNECTIONS_PER_HOST
    assert peak < 32 * 2**20, f"{peak / 2**20:.1f} MiB under a 250-connection flood"
    assert not rec.of(ev.Waiting)  # got in at once
    await scene.assert_only_the_download_was_written()


async def test_seeder_not_up_yet_is_waited_for(scene: Scene) -> None:
    """Issue #16 "Connecting" [BEH-14]: `get` started before the seeder retries with backoff,
    says what it waits for, and downloads once the seeder is up (before: exit in 0.26 s)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    leecher, rec = scene.leecher(("127.0.0.1", port), give_up_after=60.0)
    starting = asyncio.create_task(leecher.start())
    waiting = await rec.wait(lambda e: isinstance(e, ev.Waiting), 20)
    assert f"127.0.0.1:{port}" in waiting.waiting_for  # type: ignore[attr-defined]
    assert "refused" in waiting.waiting_for  # type: ignore[attr-defined]
    await scene.seeder(listen_port=port)
    await asyncio.wait_for(starting, 30)
    await asyncio.wait_for(leecher.wait_complete(), 60)
    await scene.assert_only_the_download_was_written()


async def test_one_bad_piece_from_the_only_seeder_gives_up_clearly(scene: Scene) -> None:
    """Hole 2, downloader half [BEH-15]: the only seeder serves one corrupt piece (its parole
    stays positive: no ban). Each failure is reported as it happens, and the download gives up
    with an integrity error once no piece was verified for the give-up time (before: it sat
    at 97 % forever, silently, because a peer was connected)."""
    bad = await scene.hostile(Behaviour.CORRUPT_ONE)
    leecher, rec = scene.leecher(("127.0.0.1", bad.port), give_up_after=2.0)
    await leecher.start()
    with pytest.raises(NodeError) as failed:
        await asyncio.wait_for(leecher.wait_closed(), 30)
    assert failed.value.kind is ErrorKind.INTEGRITY
    assert "failed verification" in failed.value.message
    assert [e.index for e in rec.of(ev.PieceBad)][:1] == [0]  # type: ignore[attr-defined]
    assert not rec.of(ev.PeerBanned)
    assert sorted(p.name for p in scene.tmp.iterdir()) == ["out", "seed"]


async def test_pex_flood_and_a_misbehaving_peer_are_dialled_slowly(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hole 7 [SEC-9, SEC-10]: a peer lists 50 ports of one third-party host every 2 s; another
    breaks the protocol after each handshake. The downloader dials the listed host at most
    HOST_DIAL_RATE a second after a burst (before: ~30/s, a port scan), and redials the
    misbehaving peer after 2, 4, 8 ... s (before: every second)."""
    dials: list[tuple[float, str, int]] = []
    dial = Node._dial

    def record(self: Node, host: str, port: int) -> None:
        if self is leecher:  # (the seeder meets the flooder by PEX and is paced on its own)
            dials.append((time.monotonic(), host, port))
        dial(self, host, port)

    monkeypatch.setattr(Node, "_dial", record)
    honest = await scene.seeder(max_upload_rate=256 * 1024)
    flood = await scene.hostile(Behaviour.PEX_FLOOD)
    garbage = await scene.hostile(Behaviour.GARBAGE, peer_id=b"\x55" * 20)
    leecher, _ = scene.leecher(
        ("127.0.0.1", honest.listen_port),
        ("127.0.0.1", flood.port),
        ("127.0.0.1", garbage.port),
    )
    started = time.monotonic()
    await leecher.start()
    await asyncio.sleep(6.5)  # a measurement window (rates), not a synchronisation
    elapsed = time.monotonic() - started
    scanned = [t for t, host, _ in dials if host == flood.pex_target]
    print(f"\nPEX flood: {len(scanned)} dials to the listed host in {elapsed:.1f} s")
    assert scanned, "the PEX list was never dialled (the test would prove nothing)"
    assert len(scanned) <= C.HOST_DIAL_BURST + C.HOST_DIAL_RATE * elapsed + 1
    redials = [t for t, _, port in dials if port == garbage.port]
    print(f"misbehaving peer: {len(redials)} dials in {elapsed:.1f} s")
    assert 2 <= len(redials) <= 3, redials  # at 0, ~2 and ~6 s (+ the probe, not a dial)
