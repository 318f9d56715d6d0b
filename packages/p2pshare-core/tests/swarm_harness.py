"""Whole swarms in one process: several `Swarm`s wired back to back on a simulated clock.

A tiny discrete-event simulator plays the asyncio node's part for every swarm: it carries bytes
between connections (with latency and an optional per-direction bandwidth), executes the disk
actions against an in-memory file, answers VerifyPiece/VerifyFile with real hashes, and calls
`handle_timer` exactly when `get_timer` asks. Everything is deterministic (seeded rngs, event
order by (time, sequence)), so a failing run replays identically.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from p2pshare_core import events as ev
from p2pshare_core.actions import (
    Action,
    Close,
    Dial,
    DownloadComplete,
    FileCorrupt,
    MetainfoReady,
    PeerBanned,
    Send,
    SendBlock,
    StoreBlock,
    VerifyFile,
    VerifyPiece,
)
from p2pshare_core.bitfield import Bitfield as PieceSet
from p2pshare_core.config import SwarmConfig
from p2pshare_core.connection import Connection, Role
from p2pshare_core.metainfo import Metainfo
from p2pshare_core.swarm import Swarm
from p2pshare_core.tree import TreeMetainfo


def make_share(
    size: int, piece_size: int, seed: int = 1, name: str = "data.bin"
) -> tuple[Metainfo, bytes]:
    """A metainfo and its file contents (pseudo-random bytes)."""
    data = random.Random(seed).randbytes(size)
    hashes = tuple(
        hashlib.sha256(data[i : i + piece_size]).digest() for i in range(0, size, piece_size)
    )
    return Metainfo(name, size, piece_size, hashlib.sha1(data).digest(), hashes), data


def checked_timer(swarm: Swarm) -> float | None:
    """`swarm.get_timer()`, checked against the same deadline computed from scratch: the
    incremental one must never miss a connection something happened to."""
    timer = swarm.get_timer()
    assert timer == swarm._timer_reference(), (timer, swarm._timer_reference())
    return timer


@dataclass
class Node:
    """One simulated peer: a swarm, its "disk", and what it reported."""

    name: str
    host: str
    port: int
    swarm: Swarm
    disk: bytearray | None
    metainfo: Metainfo | None
    corrupt: bool = False  # serves garbage instead of file data
    completed_at: float | None = None
    corrupt_file: bool = False
    actions: list[Action] = field(default_factory=list)
    timer_at: float | None = None
    next_conn: int = 0
    dead: bool = False

    @property
    def peer_id(self) -> bytes:
        return self.swarm.peer_id

    def new_conn_id(self) -> int:
        self.next_conn += 1
        return self.next_conn


@dataclass
class _Link:
    """One direction of a connection: who receives, and when the wire is free again."""

    dst: Node
    dst_conn: int
    free_at: float = 0.0
    open: bool = True


class Network:
    """The simulated world: nodes, links between their connections, and the event queue."""

    def __init__(
        self,
        *,
        seed: int = 0,
        latency: float = 0.001,
        bandwidth: float | None = None,
        keep_actions: bool = True,
    ) -> None:
        self.now = 0.0
        self.latency = latency
        self.bandwidth = bandwidth  # bytes/s per direction of each connection (None: infinite)
        self.keep_actions = keep_actions
        self.rng = random.Random(seed)
        self.nodes: dict[str, Node] = {}
        self.by_address: dict[tuple[str, int], Node] = {}
        self.links: dict[tuple[str, int], _Link] = {}  # (node name, conn id) -> outgoing link
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.events = 0

    # --- building -------------------------------------------------------------------------------
    def add_node(
        self,
        name: str,
        *,
        metainfo: Metainfo | None,
        data: bytes | None = None,
        share_id: bytes | None = None,
        config: SwarmConfig | None = None,
        corrupt: bool = False,
        peer_id: bytes | None = None,
        listen: bool = True,
    ) -> Node:
        """A seeder (metainfo + data), a leecher (metainfo) or a fetcher (share_id only)."""
        index = len(self.nodes) + 1
        host = f"127.0.0.{index}"
        port = 7000 + index if listen else 0
        pid = peer_id if peer_id is not None else self.rng.randbytes(20)
        have = None
        disk = None
        if metainfo is not None:
            disk = bytearray(metainfo.file_size)
            if data is not None:
                disk[:] = data
                have = PieceSet.full(metainfo.piece_count)
        swarm = Swarm(
            peer_id=pid,
            listen_port=port,
            share_id=share_id,
            metainfo=metainfo,
            have=have,
            config=config or SwarmConfig(),
            now=self.now,
            rng=random.Random(self.rng.random()),
        )
        node = Node(name, host, port, swarm, disk, metainfo, corrupt)
        self.nodes[name] = node
        if listen:
            self.by_address[(host, port)] = node
        self._after(node)
        return node

    def bootstrap(self, node: Node, target: Node) -> None:
        node.swarm.add_bootstrap(target.host, target.port, self.now)
        self._after(node)

    # --- running --------------------------------------------------------------------------------
    def schedule(self, when: float, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, fn))

    def run(
        self,
        until: Callable[[], bool],
        *,
        max_time: float = 3600.0,
        max_events: int = 5_000_000,
    ) -> bool:
        """Process events until `until()` holds (True), time/events run out or nothing is left."""
        while self._queue:
            if until():
                return True
            when, _, fn = heapq.heappop(self._queue)
            if when > max_time or self.events >= max_events:
                return until()
            self.now = max(self.now, when)
            self.events += 1
            fn()
        return until()

    def all_complete(self) -> bool:
        return all(
            n.completed_at is not None or n.swarm.complete
            for n in self.nodes.values()
            if not n.dead
        )

    def connections(self) -> list[tuple[str, str]]:
        """Open connections as (node, node) pairs, one entry per connection end."""
        pairs = []
        for (name, _), link in self.links.items():
            if link.open:
                pairs.append((name, link.dst.name))
        return pairs

    def kill(self, node: Node) -> None:
        """The node's process dies: its peers see EOF, its address stops answering."""
        self.by_address.pop((node.host, node.port), None)
        node.dead = True
        for (name, _), link in list(self.links.items()):
            if name == node.name and link.open:
                link.open = False
                dst, dst_conn = link.dst, link.dst_conn
                self.schedule(
                    self.now + self.latency,
                    self._call(
                        dst, lambda d=dst, c=dst_conn: d.swarm.data_received(c, b"", self.now)
                    ),
                )

    # --- the node's part ------------------------------------------------------------------------
    def _after(self, node: Node) -> None:
        """Carry out everything the swarm asked for, then re-arm its timer."""
        if node.dead:
            return
        swarm = node.swarm
        while (action := swarm.next_action()) is not None:
            if self.keep_actions:
                node.actions.append(action)
            self._execute(node, action)
        timer = checked_timer(swarm)
        if timer is not None and timer != node.timer_at:
            node.timer_at = timer
            self.schedule(max(timer, self.now), lambda: self._fire(node, timer))

    def _fire(self, node: Node, when: float) -> None:
        if node.timer_at != when or node.dead:
            return  # superseded
        node.timer_at = None
        node.swarm.handle_timer(self.now)
        self._after(node)

    def _call(self, node: Node, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if node.dead:
                return
            fn()
            self._after(node)

        return run

    def _execute(self, node: Node, action: Action) -> None:
        kind = type(action)
        if kind is Send:
            assert isinstance(action, Send)
            self._transmit(node, action.conn_id, action.data)
        elif kind is SendBlock:
            assert isinstance(action, SendBlock)
            assert node.disk is not None and node.metainfo is not None
            start = action.index * node.metainfo.piece_size + action.offset
            data = bytes(node.disk[start : start + action.length])
            if node.corrupt:  # the start of every piece sent (a span carries several)
                size = node.metainfo.piece_size
                data = b"".join(
                    bytes(b ^ 0x5A for b in data[i : i + 64]) + data[i + 64 : i + size]
                    for i in range(0, len(data), size)
                )
            self._transmit(node, action.conn_id, action.header + data)
        elif kind is StoreBlock:
            assert isinstance(action, StoreBlock)
            assert node.disk is not None and node.metainfo is not None
            start = action.index * node.metainfo.piece_size + action.offset
            node.disk[start : start + len(action.data)] = action.data
        elif kind is VerifyPiece:
            assert isinstance(action, VerifyPiece)
            index = action.index
            self.schedule(self.now, self._call(node, lambda: self._hash_piece(node, index)))
        elif kind is VerifyFile:
            self.schedule(self.now, self._call(node, lambda: self._hash_file(node)))
        elif kind is MetainfoReady:
            assert isinstance(action, MetainfoReady)
            node.metainfo = action.metainfo
            node.disk = bytearray(action.metainfo.file_size)
        elif kind is Dial:
            assert isinstance(action, Dial)
            self._dial(node, action.host, action.port)
        elif kind is Close:
            assert isinstance(action, Close)
            self._close(node, action.conn_id)
        elif kind is DownloadComplete:
            node.completed_at = self.now
        elif kind is FileCorrupt:
            node.corrupt_file = True
        elif kind is PeerBanned:
            pass

    def _hash_piece(self, node: Node, index: int) -> None:
        meta, disk = node.metainfo, node.disk
        assert meta is not None and disk is not None
        start = index * meta.piece_size
        digest = hashlib.sha256(disk[start : start + meta.piece_size]).digest()
        node.swarm.piece_hashed(index, digest, self.now)

    def _hash_file(self, node: Node) -> None:
        assert node.disk is not None
        meta = node.metainfo
        if isinstance(meta, TreeMetainfo):  # each file's SHA-1 instead of the whole [TREE-7]
            disk = node.disk
            digests = [
                hashlib.sha1(disk[start : start + e.size]).digest()
                for start, e in zip(meta.starts, meta.entries, strict=True)
            ]
            node.swarm.file_hashed(meta.file_verdict(digests), self.now)
            return
        node.swarm.file_hashed(hashlib.sha1(node.disk).digest(), self.now)

    def _transmit(self, node: Node, conn_id: int, data: bytes) -> None:
        link = self.links.get((node.name, conn_id))
        if link is None or not link.open:
            return
        start = max(self.now, link.free_at)
        done = start + (len(data) / self.bandwidth if self.bandwidth else 0.0)
        link.free_at = done
        dst, dst_conn = link.dst, link.dst_conn
        self.schedule(
            done + self.latency,
            self._call(dst, lambda: dst.swarm.data_received(dst_conn, data, self.now)),
        )

    def _dial(self, node: Node, host: str, port: int) -> None:
        target = self.by_address.get((host, port))
        when = self.now + self.latency
        if target is None:
            self.schedule(
                when, self._call(node, lambda: node.swarm.dial_failed(host, port, self.now))
            )
            return
        ours, theirs = node.new_conn_id(), target.new_conn_id()
        self.links[(node.name, ours)] = _Link(target, theirs)
        self.links[(target.name, theirs)] = _Link(node, ours)
        ephemeral = 40000 + self._seq

        def accept() -> None:
            target.swarm.connection_opened(theirs, node.host, ephemeral, False, self.now)

        def connected() -> None:
            node.swarm.connection_opened(ours, host, port, True, self.now)

        self.schedule(when, self._call(target, accept))
        self.schedule(when, self._call(node, connected))

    def _close(self, node: Node, conn_id: int) -> None:
        link = self.links.get((node.name, conn_id))
        if link is None or not link.open:
            return
        link.open = False
        dst, dst_conn = link.dst, link.dst_conn
        back = self.links.get((dst.name, dst_conn))
        when = max(self.now, link.free_at) + self.latency

        def eof() -> None:
            if back is not None:
                back.open = False
            dst.swarm.data_received(dst_conn, b"", self.now)

        self.schedule(when, self._call(dst, eof))
        # our own side: the transport is gone (the swarm already forgot it; must be harmless)
        self.schedule(
            self.now, self._call(node, lambda: node.swarm.connection_lost(conn_id, self.now))
        )


# --- a scripted peer, for single-swarm tests -------------------------------------------------
class Remote:
    """The far end of one of the swarm's connections, speaking through its own `Connection`.

    Tests script it message by message; everything the swarm sends it is parsed by that
    `Connection` (so the swarm's output is checked against the protocol rules) into `inbox`.
    """

    def __init__(
        self,
        driver: Driver,
        conn_id: int,
        *,
        peer_id: bytes,
        swarm_dialed: bool = False,
        host: str = "10.0.0.9",
        port: int = 5555,
        open_now: bool = True,
    ) -> None:
        self.driver = driver
        self.conn_id = conn_id
        self.peer_id = peer_id
        self.host, self.port = host, port
        self.swarm_dialed = swarm_dialed
        self.conn = Connection(Role.ACCEPTOR if swarm_dialed else Role.DIALER, driver.share_id)
        self.inbox: list[object] = []
        self.parse = True  # False once a test bypassed `conn` (its view of the state is stale)
        driver.remotes[conn_id] = self
        if open_now:
            self.open()

    def open(self) -> None:
        d = self.driver
        d.swarm.connection_opened(self.conn_id, self.host, self.port, self.swarm_dialed, d.now)
        d.pump()

    def send(self, *events: object) -> None:
        """Send events to the swarm (as one chunk of bytes)."""
        data = b"".join(self.conn.send(e) for e in events)  # type: ignore[arg-type]
        self.send_raw(data)

    def send_raw(self, data: bytes) -> None:
        d = self.driver
        d.swarm.data_received(self.conn_id, data, d.now)
        d.pump()

    def handshake(self, meta: Metainfo, listen_port: int = 0, **changes: object) -> ev.Handshake:
        fields: dict[str, object] = {
            "peer_id": self.peer_id,
            "listen_port": listen_port,
            "share_id": meta.share_id,
            "file_size": meta.file_size,
            "piece_size": meta.piece_size,
            "file_sha1": meta.file_sha1,
            "name": meta.name,
        }
        fields.update(changes)
        return ev.Handshake(**fields)  # type: ignore[arg-type]

    def join(self, meta: Metainfo, have: set[int] | None = None, listen_port: int = 0) -> None:
        """Handshake + bitfield: the connection becomes ACTIVE both ways."""
        bits = PieceSet(meta.piece_count)
        for index in have or ():
            bits.set(index)
        self.send(self.handshake(meta, listen_port), ev.Bitfield(bits=bits.to_bytes()))

    def take(self, kind: type | None = None) -> list[object]:
        """Remove and return received events (of one type, if given)."""
        if kind is None:
            got, self.inbox = self.inbox, []
            return got
        got = [e for e in self.inbox if isinstance(e, kind)]
        self.inbox = [e for e in self.inbox if not isinstance(e, kind)]
        return got


class Driver:
    """Runs one swarm against scripted `Remote`s on a manual clock."""

    def __init__(
        self,
        *,
        meta: Metainfo | None,
        data: bytes | None = None,
        share_id: bytes | None = None,
        config: SwarmConfig | None = None,
        peer_id: bytes = b"\x80" * 20,
        listen_port: int = 7000,
        have: set[int] | None = None,
        now: float = 0.0,
    ) -> None:
        self.now = now
        self.data = data
        bits = None
        if meta is not None and data is not None:
            bits = PieceSet.full(meta.piece_count)
        elif meta is not None and have is not None:
            bits = PieceSet(meta.piece_count)
            for index in have:
                bits.set(index)
        self.swarm = Swarm(
            peer_id=peer_id,
            listen_port=listen_port,
            share_id=share_id,
            metainfo=meta,
            have=bits,
            config=config or SwarmConfig(),
            now=now,
            rng=random.Random(0),
        )
        self.share_id = share_id if meta is None else meta.share_id
        self.meta = meta
        self.remotes: dict[int, Remote] = {}
        self.actions: list[Action] = []  # every non-network action, in order
        self.closed: dict[int, Close] = {}
        self.pump()

    def pump(self) -> list[Action]:
        """Drain the swarm; deliver its frames to the remotes; return the other actions."""
        out: list[Action] = []
        while (action := self.swarm.next_action()) is not None:
            if isinstance(action, Send | SendBlock):
                remote = self.remotes.get(action.conn_id)
                assert action.conn_id not in self.closed, "sent after close"
                if remote is None or not remote.parse:
                    continue
                if isinstance(action, SendBlock):
                    assert self.data is not None and self.meta is not None
                    start = action.index * self.meta.piece_size + action.offset
                    payload = action.header + self.data[start : start + action.length]
                else:
                    payload = action.data
                remote.conn.receive_data(payload)
                while (event := remote.conn.next_event()) is not ev.NEED_DATA:
                    remote.inbox.append(event)
                continue
            if isinstance(action, Close):
                self.closed[action.conn_id] = action
            out.append(action)
        self.actions.extend(out)
        checked_timer(self.swarm)
        return out

    def advance(self, now: float) -> list[Action]:
        """Move the clock to `now`, firing the timer whenever it is due on the way."""
        before = len(self.actions)
        for _ in range(10_000):
            timer = checked_timer(self.swarm)
            if timer is None or timer > now:
                break
            self.now = max(self.now, timer)
            self.swarm.handle_timer(self.now)
            self.pump()
        self.now = now
        return self.actions[before:]
