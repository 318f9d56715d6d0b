"""The simulated world: one real `Swarm` per peer, driven like the asyncio node drives it.

The node's part, as in `p2pshare_node.node`: feed the swarm what happened (connections opened
and lost, bytes received, hash results, the timer), drain `next_action()` after every call and
carry each action out, then re-arm one timer at `get_timer()`. Here "carry out" means the
flow-level network of `network.py` instead of sockets, and costs instead of disk and hashing:

- `Send` / `SendBlock`: bytes onto the connection's link. Frames are the real encoded bytes (the
  core's codec and state machine run on both ends); a block's (or a span's) data is zero bytes,
  or bytes of 1 when a corrupt peer sent it: the first byte of each stored block tells good data
  from bad without any file content.
- `VerifyPiece` / `VerifyFile`: the answer comes after piece (file) size / hash rate, serially per
  peer; the digest handed to the core is the metainfo's (the core compares) or, for a piece that
  holds a corrupt block, a wrong one.
- `Dial`: a connection set-up of one round trip, or a failure (refused peer, partition).

Everything is ordered by (simulated time, sequence number) and every random draw comes from
generators seeded from the run's seed, so a run replays bit for bit.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable
from typing import Any

from p2pshare_core.actions import (
    Close,
    Dial,
    DownloadComplete,
    PeerBanned,
    PieceFailed,
    PieceVerified,
    Send,
    SendBlock,
    StoreBlock,
    VerifyFile,
    VerifyPiece,
)
from p2pshare_core.bitfield import Bitfield
from p2pshare_core.constants import CONNECT_TIMEOUT
from p2pshare_core.metainfo import Metainfo
from p2pshare_core.swarm import Swarm

from .metrics import Recorder
from .network import PAYLOAD_SHARE, Link, Segment
from .scenario import PeerClass, Scenario

__all__ = ["SimPeer", "World"]

# event kinds (small ints: the heap holds plain tuples)
_TIMER, _ARRIVE, _FLOW, _OPEN, _DIAL_FAILED, _HASHED, _FILE_HASHED, _LOST = range(8)
_JOIN, _LEAVE, _SAMPLE, _PARTITION, _HEAL = range(8, 13)

PORT = 6881
MIN_RTO = 0.2  # seconds: a lost small frame arrives one retransmission timeout late


class SimPeer:
    """One simulated host: its swarm, its access link and what the metrics need."""

    __slots__ = (
        "address",
        "alive",
        "arrived_at",
        "completed_at",
        "down_active",
        "download",
        "flows_down",
        "flows_up",
        "group",
        "hash_free",
        "have",
        "index",
        "kind",
        "latency",
        "left_at",
        "links",
        "next_conn",
        "queue",
        "received",
        "seeder",
        "stored",
        "swarm",
        "tainted",
        "timer_at",
        "up_active",
        "upload",
        "uploaded",
    )

    def __init__(self, index: int, kind: PeerClass, swarm: Swarm, seeder: bool) -> None:
        self.index = index
        self.kind = kind
        self.swarm = swarm
        self.seeder = seeder
        self.address = (_host(index), PORT)
        # payload bytes/s: the scenario's link rates less the packets' headers
        self.upload = 0.0 if kind.free_rider else kind.upload * PAYLOAD_SHARE
        self.download = kind.download * PAYLOAD_SHARE
        self.latency = kind.latency
        self.queue = kind.queue
        self.alive = False
        self.arrived_at: float | None = None
        self.completed_at: float | None = None
        self.left_at: float | None = None
        self.links: dict[int, Link] = {}  # conn_id -> our sending direction
        self.next_conn = 0
        self.timer_at: float | None = None
        self.flows_up = 0
        self.flows_down = 0
        self.up_active: list[Link] = []
        self.down_active: list[Link] = []
        self.hash_free = 0.0
        self.tainted: set[int] = set()  # pieces holding a block from a corrupt peer
        self.have: bytearray = bytearray()
        self.uploaded = 0  # piece bytes fully sent
        self.received = 0  # piece bytes that arrived (useful or not)
        self.stored = 0  # piece bytes the core kept
        self.group = 0  # partition side


def _saturated(peer: SimPeer) -> bool:
    """The peer's upload is the bottleneck of its flows (they use all of it)."""
    return sum(link.rate for link in peer.up_active) >= 0.99 * peer.upload


def _host(index: int) -> str:
    return f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"


class World:
    """Builds the peers of a scenario and runs the event loop."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.now = 0.0
        self._queue: list[tuple[float, int, int, object, object]] = []
        self._seq = 0
        self.events = 0
        master = random.Random(seed)
        self.rng = random.Random(master.getrandbits(64))  # network draws: loss, tracker, ...
        self.metainfo = _metainfo(scenario, master)
        self.by_address: dict[tuple[str, int], SimPeer] = {}
        self.peers: list[SimPeer] = []
        self.present: list[SimPeer] = []  # arrived and not left: what the tracker hands out
        self.copies = [0] * scenario.pieces  # verified copies among present peers
        self.total_rate = 0.0  # sum of active flow rates
        self.partitioned = False
        self._blocks: dict[tuple[int, bool], bytes] = {}
        self._bad_digest = b"\x00" * 32
        self._build(master)
        self.recorder = Recorder(self)

    # --- building -------------------------------------------------------------------------------
    def _build(self, master: random.Random) -> None:
        s = self.scenario
        for _ in range(s.seeders):
            self._new_peer(s.seeder, master, seeder=True)
        # downloaders per class, by largest remainder so the counts add up exactly
        total = sum(c.share for c in s.classes)
        exact = [s.peers * c.share / total for c in s.classes]
        counts = [int(x) for x in exact]
        order = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
        for i in order[: s.peers - sum(counts)]:
            counts[i] += 1
        kinds = [c for c, n in zip(s.classes, counts, strict=True) for _ in range(n)]
        master.shuffle(kinds)
        leechers = [self._new_peer(kind, master, seeder=False) for kind in kinds]
        if s.partition is not None:
            cut = round(len(leechers) * s.partition.fraction)
            for peer in master.sample(leechers, cut):
                peer.group = 1
        for peer in self.peers:
            if peer.seeder:
                self._join(peer)
        t = 0.0
        for i, peer in enumerate(leechers):
            if s.arrival == "poisson":
                t += master.expovariate(s.arrival_rate)
            elif s.arrival == "at":
                t = s.arrival_times[i]
            else:
                self.present.append(peer)  # a flash crowd is on the tracker from the start
            self._push(t, _JOIN, peer, None)
        if s.partition is not None:
            self._push(s.partition.start, _PARTITION, None, None)
            self._push(s.partition.heal, _HEAL, None, None)
        self._push(0.0, _SAMPLE, None, None)

    def _new_peer(self, kind: PeerClass, master: random.Random, *, seeder: bool) -> SimPeer:
        index = len(self.peers) + 1
        s = self.scenario
        fetch = s.fetch_metainfo and not seeder  # (then the core asks its peers for it)
        swarm = Swarm(
            peer_id=master.randbytes(20),
            listen_port=PORT,
            share_id=self.metainfo.share_id if fetch else None,
            metainfo=None if fetch else self.metainfo,
            have=Bitfield.full(s.pieces) if seeder else None,
            config=s.swarm_config(kind),
            now=0.0,
            rng=random.Random(master.getrandbits(64)),
        )
        peer = SimPeer(index, kind, swarm, seeder)
        peer.have = bytearray([1 if seeder else 0]) * s.pieces
        self.peers.append(peer)
        return peer

    # --- the loop -------------------------------------------------------------------------------
    def run(self, progress: Callable[[World], None] | None = None) -> None:
        """Run until every downloader completed, nothing is left to do, or max_time."""
        queue = self._queue
        pop = heapq.heappop
        handlers = self._handlers
        max_time = self.scenario.max_time
        leechers = self.scenario.peers
        recorder = self.recorder
        while queue:
            when, _, kind, a, b = pop(queue)
            if when > max_time:
                break
            self.now = when
            self.events += 1
            handlers[kind](self, a, b)
            if kind == _SAMPLE:
                if progress is not None:
                    progress(self)
                if recorder.completed >= leechers or self._stalled():
                    break
        recorder.finish()

    def _stalled(self) -> bool:
        """No seeder is left and a piece has no copy among present peers: nobody present or
        still to come can ever complete (the run stops instead of idling to max_time)."""
        if any(p.seeder and p.alive for p in self.peers[: self.scenario.seeders]):
            return False
        if min(self.copies) > 0:
            return False
        # piece data still on its way or being hashed may yet be the missing copy (a seeder
        # leaves when its last block is sent, one latency before it arrives)
        if any(e[2] == _HASHED or (e[2] == _ARRIVE and e[4][1]) for e in self._queue):  # type: ignore[index]
            return False
        self.recorder.stalled = True
        return True

    def _push(self, when: float, kind: int, a: object, b: object) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, kind, a, b))

    # --- the node's part: after every call into a swarm -----------------------------------------
    def _after(self, peer: SimPeer) -> None:
        """Carry out everything the swarm asked for, then re-arm its timer (as the node does)."""
        swarm = peer.swarm
        next_action = swarm.next_action
        table = self._action_table
        while (action := next_action()) is not None:
            handler = table.get(type(action))
            if handler is not None:  # (the rest are notifications nobody needs here)
                handler(self, peer, action)
        if peer.alive:
            timer = swarm.get_timer()
            if timer is not None and timer != peer.timer_at:
                peer.timer_at = timer
                self._push(max(timer, self.now), _TIMER, peer, timer)

    def _do_send(self, peer: SimPeer, action: Send) -> None:
        self._send(peer, action.conn_id, action.data)

    def _do_store(self, peer: SimPeer, action: StoreBlock) -> None:
        data = action.data
        peer.stored += len(data)
        if data[0]:  # a block from a corrupt peer: this piece will fail its hash
            peer.tainted.add(action.index)

    def _do_verify_piece(self, peer: SimPeer, action: VerifyPiece) -> None:
        length = self.metainfo.summary.piece_length(action.index)
        peer.hash_free = max(self.now, peer.hash_free) + length / self.scenario.hash_rate
        self._push(peer.hash_free, _HASHED, peer, action.index)

    def _do_verify_file(self, peer: SimPeer, action: VerifyFile) -> None:
        size = self.metainfo.file_size
        peer.hash_free = max(self.now, peer.hash_free) + size / self.scenario.hash_rate
        self._push(peer.hash_free, _FILE_HASHED, peer, None)

    def _do_verified(self, peer: SimPeer, action: PieceVerified) -> None:
        peer.have[action.index] = 1
        self.copies[action.index] += 1

    def _do_close(self, peer: SimPeer, action: Close) -> None:
        self._close(peer, action.conn_id)

    def _do_dial(self, peer: SimPeer, action: Dial) -> None:
        self._dial(peer, action.host, action.port)

    def _do_complete(self, peer: SimPeer, action: DownloadComplete) -> None:
        self._completed(peer)

    def _do_failed(self, peer: SimPeer, action: PieceFailed) -> None:
        self.recorder.corrupt_bytes += self.metainfo.summary.piece_length(action.index)

    def _do_banned(self, peer: SimPeer, action: PeerBanned) -> None:
        self.recorder.bans += 1

    _action_table: dict[type, Callable[[World, SimPeer, Any], None]]

    def _completed(self, peer: SimPeer) -> None:
        if peer.completed_at is not None or peer.seeder:
            return
        peer.completed_at = self.now
        self.recorder.peer_completed(peer)
        linger = self.scenario.linger
        if linger is not None:
            self._push(self.now + linger, _LEAVE, peer, None)

    # --- network actions ------------------------------------------------------------------------
    def _send(self, peer: SimPeer, conn_id: int, data: bytes) -> None:
        link = peer.links.get(conn_id)
        if link is None or not link.open:
            return
        if link.queue:
            link.queue[-1].tail.append(data)  # behind the block being sent (TCP keeps order)
        else:
            self._deliver(link, [data], 0, eof=False)

    def _block(self, length: int, corrupt: bool) -> bytes:
        key = (length, corrupt)
        block = self._blocks.get(key)
        if block is None:
            block = b"\x01" * length if corrupt else bytes(length)
            self._blocks[key] = block
        return block

    def _do_send_block(self, peer: SimPeer, action: SendBlock) -> None:
        link = peer.links.get(action.conn_id)
        if link is None or not link.open:
            return
        block = self._block(action.length, peer.kind.corrupt)
        link.queue.append(Segment(action.header, block))
        if not link.active:
            self._activate(link)

    def _deliver(self, link: Link, chunks: list[bytes], bulk: int, *, eof: bool) -> None:
        """Schedule the arrival of `chunks` (plus EOF) one latency from now, in link order."""
        delay = link.latency
        src = link.src
        if src.queue and src.flows_up and _saturated(src):
            delay += src.queue  # behind the other connections' data in the uplink's buffer
        loss = self.scenario.loss
        if loss and not bulk and self.rng.random() < loss:
            delay += max(MIN_RTO, 4 * link.latency)
        when = max(self.now + delay, link.last_arrival)
        link.last_arrival = when
        self._push(when, _ARRIVE, link, (chunks, bulk, eof))

    def _on_arrive(self, link: Link, payload: tuple[list[bytes], int, bool]) -> None:
        chunks, bulk, eof = payload
        dst = link.dst
        if not dst.alive:
            return
        if link.crosses:  # held by the partition until it heals (TCP retransmits then)
            self._push(self._heal_time(), _ARRIVE, link, payload)
            return
        swarm = dst.swarm
        conn_id = link.dst_conn
        dst.received += bulk
        for chunk in chunks:  # (the stream as written; the receiver reassembles frames)
            swarm.data_received(conn_id, chunk, self.now)
        if eof:
            swarm.data_received(conn_id, b"", self.now)
        self._after(dst)

    def _heal_time(self) -> float:
        partition = self.scenario.partition
        assert partition is not None
        return max(self.now, partition.heal)

    # --- flows ----------------------------------------------------------------------------------
    def _activate(self, link: Link) -> None:
        link.active = True
        src, dst = link.src, link.dst
        src.flows_up += 1
        dst.flows_down += 1
        src.up_active.append(link)
        dst.down_active.append(link)
        link.remaining = link.queue[0].size
        link.updated = self.now
        link.rate = 0.0
        link.version += 1  # (a new head: the reschedule below must push an event)
        self._reshare(src, dst, link)

    def _deactivate(self, link: Link) -> None:
        link.active = False
        src, dst = link.src, link.dst
        src.flows_up -= 1
        dst.flows_down -= 1
        src.up_active.remove(link)
        dst.down_active.remove(link)
        self.total_rate -= link.rate
        link.rate = 0.0
        link.version += 1
        self._reshare(src, dst, None)

    def _reshare(self, src: SimPeer, dst: SimPeer, new: Link | None) -> None:
        """The flow counts at `src` (upload) and `dst` (download) changed: new rates there."""
        now = self.now
        for link in src.up_active:
            self._rerate(link, now, link is new)
        for link in dst.down_active:
            if link.src is not src:
                self._rerate(link, now, link is new)

    def _rerate(self, link: Link, now: float, force: bool) -> None:
        rate = link.fair_rate()
        if rate == link.rate and not force:
            return
        link.settle(now)
        self.total_rate += rate - link.rate
        link.rate = rate
        link.version += 1
        if rate > 0:
            self._push(now + link.remaining / rate, _FLOW, link, link.version)

    def _on_flow(self, link: Link, version: int) -> None:
        if version != link.version or not link.active:
            return  # rescheduled since
        segment = link.queue.popleft()
        link.src.uploaded += segment.length
        chunks = [segment.header, segment.block, *segment.tail]
        eof = not link.open and not link.queue
        if link.dst.alive:
            self._deliver(link, chunks, segment.length, eof=eof)
        if link.queue:
            link.remaining = link.queue[0].size
            link.updated = self.now
            link.version += 1
            self._push(self.now + link.remaining / link.rate, _FLOW, link, link.version)
        else:
            self._deactivate(link)
        src = link.src
        copies = self.scenario.seeder_copies
        if (
            src.seeder
            and copies is not None
            and src.alive
            and src.uploaded >= copies * self.metainfo.file_size
        ):
            self._leave(src)

    # --- connections ----------------------------------------------------------------------------
    def _dial(self, peer: SimPeer, host: str, port: int) -> None:
        target = self.by_address.get((host, port))
        if target is None or not target.alive or self._separated(peer, target):
            # nobody answers: the SYN times out (departed hosts, the far side of a partition)
            self._push(self.now + CONNECT_TIMEOUT, _DIAL_FAILED, peer, (host, port))
            return
        peer.next_conn += 1
        target.next_conn += 1
        ours, theirs = peer.next_conn, target.next_conn
        out = Link(peer, target, theirs, self.scenario.loss)
        back = Link(target, peer, ours, self.scenario.loss)
        out.back, back.back = back, out
        peer.links[ours] = out
        target.links[theirs] = back
        when = self.now + 2 * out.latency  # one round trip: SYN, SYN-ACK (+ACK with data)
        ephemeral = 32768 + theirs % 28000
        self._push(when, _OPEN, target, (theirs, peer.address[0], ephemeral, False))
        self._push(when, _OPEN, peer, (ours, host, port, True))

    def _on_open(self, peer: SimPeer, args: tuple[int, str, int, bool]) -> None:
        conn_id, host, port, outbound = args
        if not peer.alive:
            return
        link = peer.links.get(conn_id)
        if link is None or not link.open or not link.dst.alive:
            peer.links.pop(conn_id, None)
            if outbound:
                peer.swarm.dial_failed(host, port, self.now)
                self._after(peer)
            return
        peer.swarm.connection_opened(conn_id, host, port, outbound, self.now)
        self._after(peer)

    def _on_dial_failed(self, peer: SimPeer, address: tuple[str, int]) -> None:
        if peer.alive:
            host, port = address
            peer.swarm.dial_failed(host, port, self.now)
            self._after(peer)

    def _close(self, peer: SimPeer, conn_id: int) -> None:
        """The node closes the socket: what is queued still goes out, then EOF; nothing more is
        read, so the other direction stops at once."""
        link = peer.links.pop(conn_id, None)
        if link is None or not link.open:
            return
        link.open = False
        if not link.queue:
            self._deliver(link, [], 0, eof=True)
        back = link.back
        if back is not None:
            self._drop_link(back)
        self._push(self.now, _LOST, peer, conn_id)

    def _drop_link(self, link: Link) -> None:
        """Nobody reads this direction any more: its queued data is gone."""
        link.open = False
        link.src.links.pop(link.back.dst_conn if link.back else -1, None)
        link.queue.clear()
        if link.active:
            self._deactivate(link)

    def _on_lost(self, peer: SimPeer, conn_id: int) -> None:
        if peer.alive:
            peer.swarm.connection_lost(conn_id, self.now)
            self._after(peer)

    # --- hashing --------------------------------------------------------------------------------
    def _on_hashed(self, peer: SimPeer, index: int) -> None:
        if not peer.alive:
            return
        if index in peer.tainted:
            peer.tainted.discard(index)
            digest = self._bad_digest
        else:
            digest = self.metainfo.piece_hashes[index]
        peer.swarm.piece_hashed(index, digest, self.now)
        self._after(peer)

    def _on_file_hashed(self, peer: SimPeer, _: object) -> None:
        if peer.alive:
            peer.swarm.file_hashed(self.metainfo.file_sha1, self.now)
            self._after(peer)

    # --- timers, arrivals, departures -------------------------------------------------------------
    def _on_timer(self, peer: SimPeer, when: float) -> None:
        if peer.timer_at != when or not peer.alive:
            return  # superseded
        peer.timer_at = None
        peer.swarm.handle_timer(self.now)
        self._after(peer)

    def _join(self, peer: SimPeer) -> None:
        peer.alive = True
        peer.arrived_at = self.now
        self.by_address[peer.address] = peer
        if peer not in self.present:
            self.present.append(peer)
        for index, bit in enumerate(peer.have):
            if bit:
                self.copies[index] += 1

    def _on_join(self, peer: SimPeer, _: object) -> None:
        self._join(peer)
        if self.scenario.bootstrap == "seeders":  # a share link: the seeders, then PEX
            others = [p for p in self.present if p.seeder]
        else:
            others = [p for p in self.present if p is not peer]
        count = min(self.scenario.tracker_peers, len(others))
        for other in self.rng.sample(others, count):
            host, port = other.address
            peer.swarm.add_bootstrap(host, port, self.now)
        self._after(peer)

    def _on_leave(self, peer: SimPeer, _: object) -> None:
        if peer.alive:
            self._leave(peer)

    def _leave(self, peer: SimPeer) -> None:
        """Shut down politely (the core sends SHUTDOWN errors and closes), then go away: what
        was still queued for upload dies with the process, the peers see the end of stream."""
        outgoing = list(peer.links.values())
        peer.swarm.shutdown(self.now)
        self._after(peer)
        for link in outgoing:
            if link.queue:
                link.queue.clear()
                if link.active:
                    self._deactivate(link)
                self._deliver(link, [], 0, eof=True)
        peer.alive = False
        peer.left_at = self.now
        self.by_address.pop(peer.address, None)
        self.present.remove(peer)
        for index, bit in enumerate(peer.have):
            if bit:
                self.copies[index] -= 1
        for link in list(peer.links.values()):
            self._drop_link(link)

    # --- partition ------------------------------------------------------------------------------
    def _separated(self, a: SimPeer, b: SimPeer) -> bool:
        return self.partitioned and a.group != b.group

    def _on_partition(self, _: object, __: object) -> None:
        self._set_partition(True)

    def _on_heal(self, _: object, __: object) -> None:
        self._set_partition(False)

    def _set_partition(self, on: bool) -> None:
        self.partitioned = on
        for peer in self.peers:
            for link in peer.links.values():
                link.crosses = on and link.src.group != link.dst.group
                if link.active:
                    self._rerate(link, self.now, force=False)

    def _on_sample(self, _: object, __: object) -> None:
        self.recorder.sample()
        self._push(self.now + self.recorder.interval, _SAMPLE, None, None)

    _handlers: tuple[Callable[[World, Any, Any], None], ...]


World._handlers = (
    World._on_timer,
    World._on_arrive,
    World._on_flow,
    World._on_open,
    World._on_dial_failed,
    World._on_hashed,
    World._on_file_hashed,
    World._on_lost,
    World._on_join,
    World._on_leave,
    World._on_sample,
    World._on_partition,
    World._on_heal,
)
World._action_table = {
    Send: World._do_send,
    SendBlock: World._do_send_block,
    StoreBlock: World._do_store,
    VerifyPiece: World._do_verify_piece,
    VerifyFile: World._do_verify_file,
    PieceVerified: World._do_verified,
    Close: World._do_close,
    Dial: World._do_dial,
    DownloadComplete: World._do_complete,
    PieceFailed: World._do_failed,
    PeerBanned: World._do_banned,
}


def _metainfo(scenario: Scenario, master: random.Random) -> Metainfo:
    """The share: real geometry, made-up hashes (no file content exists anywhere)."""
    hashes = tuple(master.randbytes(32) for _ in range(scenario.pieces))
    sha1 = hashlib.sha1(master.randbytes(20)).digest()
    return Metainfo(f"{scenario.name}.bin", scenario.file_size, scenario.piece_size, sha1, hashes)
