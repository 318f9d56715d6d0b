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
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from p2pshare_core.metainfo import Metainfo
from p2pshare_node import events as ev
from p2pshare_node.config import NodeConfig
from p2pshare_node.node import Node
from p2pshare_node.sharing import build_metainfo

from .hostile_peer import Behaviour, HostilePeer

pytestmark = pytest.mark.timeout(90)
PIECE = 16_384
SIZE = 40 * PIECE + 123  # 41 pieces, the last one short
RATE = 512 * 1024  # honest seeder's upload cap: the hostile peer stays in play for a while


class Recorder:
    """Every event of a node, and a wait for the first one matching (no sleeps)."""

    def __init__(self, node: Node) -> None:
        self.events: list[ev.NodeEvent] = []
        self._changed = asyncio.Event()
        node.add_listener(self._add)

    def _add(self, event: ev.NodeEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type[ev.NodeEvent]) -> list[ev.NodeEvent]:
        return [e for e in self.events if isinstance(e, kind)]

    async def wait(self, match: Callable[[ev.NodeEvent], bool], timeout: float) -> ev.NodeEvent:
        async with asyncio.timeout(timeout):
            while True:
                found = [e for e in self.events if match(e)]
                if found:
                    return found[0]
                self._changed.clear()
                await self._changed.wait()


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

    def assert_only_the_download_was_written(self) -> None:
        assert sorted(p.name for p in self.out.iterdir()) == ["data.bin"]
        assert (self.out / "data.bin").read_bytes() == self.data
        assert sorted(p.name for p in self.tmp.iterdir()) == ["out", "seed"]
        assert sorted(p.name for p in (self.tmp / "seed").iterdir()) == ["data.bin"]

    async def close(self) -> None:
        for node in reversed(self.nodes):
            await node.close()
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
    await leecher.start()
    await asyncio.wait_for(leecher.wait_complete(), 60)
    scene.assert_only_the_download_was_written()
    expected = VIOLATIONS[behaviour]
    if expected == "banned":
        bans = rec.of(ev.PeerBanned)
        assert [(b.peer_id, b.host) for b in bans] == [(bad.peer_id.hex(), "127.0.0.1")]  # type: ignore[attr-defined]
        assert rec.of(ev.PieceBad)
    elif expected is not None:
        reasons = _down_reasons(rec)
        print(behaviour, reasons)
        assert any(expected in r for r in reasons), reasons
