"""The per-share brain of a node: all connections of one share, as one sans-IO object.

The asyncio node feeds it what happened (connections, bytes, hash results, time) and drains
`next_action()` for what to do (send, store, hash, dial, close) and what to report. Time is
always passed in; `get_timer()` says when `handle_timer(now)` must be called next (aioquic
style), so tests drive whole swarms on a simulated clock.

It owns one `Connection` per conn_id for the protocol rules and delegates policy to `Picker`
(what to request), `Choker` (whom to serve), `PeerBook` (whom to dial, PEX) and `RateMeter`.
Per-block work is O(1) amortised: this object sits on the hot path of every byte transferred.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable

from .actions import (
    Action,
    Close,
    Dial,
    DownloadComplete,
    FileCorrupt,
    MetainfoReady,
    PeerBanned,
    PeerConnected,
    PeerDisconnected,
    PieceFailed,
    PieceVerified,
    Send,
    StoreBlock,
    VerifyFile,
    VerifyPiece,
)
from .admission import DialPacer, HostCounts, pick_eviction
from .bitfield import Bitfield as PieceSet
from .capabilities import Capability
from .choker import ChokeCandidate, Choker
from .config import SwarmConfig
from .connection import Connection
from .errors import ErrorCode, ProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    Bitfield,
    Cancel,
    Choke,
    ConnectionClosed,
    Error,
    Event,
    Handshake,
    Have,
    Interested,
    KeepAlive,
    MetainfoData,
    MetainfoReject,
    MetainfoRequest,
    NotInterested,
    PeerEntry,
    Peers,
    Piece,
    Reject,
    Request,
    SpanCancel,
    SpanData,
    SpanReject,
    SpanRequest,
    Unchoke,
)
from .metafetch import MetainfoFetch, chunk_total
from .metainfo import Metainfo, ShareSummary
from .peerbook import PeerBook, PexPacer, build_pex_entries
from .peerslot import PeerSlot
from .picker import Block, Picker
from .rate import RateMeter
from .serving import Uploader
from .spans import span_blocks, span_run, split_spans
from .states import Role, State
from .superseed import SuperSeeder
from .swarmstats import PeerStats, SwarmStats

__all__ = ["PeerStats", "Swarm", "SwarmStats"]  # (the stats types are re-exported)

_DEPTH_UNIT = 64 * 1024  # the block size the pipeline bounds are counted in [BEH-1]

# Closed with these codes (by either side): do not redial [ERR-10] (or: connected another way).
_NO_RETRY = frozenset(
    {
        ErrorCode.BAD_HANDSHAKE,
        ErrorCode.UNSUPPORTED_VERSION,
        ErrorCode.SHARE_MISMATCH,
        ErrorCode.BAD_METAINFO,
        ErrorCode.DUPLICATE_CONNECTION,
        ErrorCode.SELF_CONNECTION,
        ErrorCode.BANNED,
    }
)


class Swarm:
    """Every connection of one share, and the policy that drives them."""

    def __init__(
        self,
        *,
        peer_id: bytes,
        listen_port: int,
        share_id: bytes | None,
        metainfo: Metainfo | None,
        have: PieceSet | None,
        config: SwarmConfig,
        now: float,
        rng: random.Random | None = None,
    ) -> None:
        if metainfo is not None:
            if share_id is not None and share_id != metainfo.share_id:
                raise ValueError("share_id does not match the metainfo")
            share_id = metainfo.share_id
        elif have is not None:
            raise ValueError("a have set needs the metainfo")
        if have is not None and metainfo is not None and len(have) != metainfo.piece_count:
            raise ValueError(f"have set has {len(have)} pieces, metainfo {metainfo.piece_count}")
        self.peer_id = peer_id
        self.listen_port = listen_port
        self.share_id = share_id
        self.metainfo = metainfo
        self.config = config
        self._rng = rng if rng is not None else random.Random()
        self._actions: deque[Action] = deque()
        self._peers: dict[int, PeerSlot] = {}
        self._busy = 0  # connections that take a peer slot: ready, or dialed by us
        # get_timer() is called after every event: the earliest per-connection deadline is
        # kept in a heap (entries whose connection is gone or moved are skipped lazily) and
        # recomputed only for the connections something happened to since the last call.
        self._deadlines: list[tuple[float, int]] = []  # (deadline, conn_id)
        self._stale: set[int] = set()  # conn_ids whose deadline must be recomputed
        self._all_stale = False  # every deadline must be recomputed (PEX version, timer, ...)
        self._by_peer_id: dict[bytes, PeerSlot] = {}
        self._book = PeerBook(peer_id, config)
        self._choker = Choker(config.upload_slots, self._rng)
        self._pending_dials: set[tuple[str, int]] = set()
        self._hosts = HostCounts()  # open connections per IP address [SEC-6]
        self._pacer = DialPacer(
            config.dial_rate, config.dial_burst, config.host_dial_rate, config.host_dial_burst
        )
        self._banned_hosts: dict[bytes, str] = {}  # banned peer -> its address, reported once
        self._last_host: dict[bytes, str] = {}  # peers that sent us pieces -> their address
        self._parole: dict[bytes, int] = {}
        self._contributors: dict[int, set[bytes]] = {}
        self._down = RateMeter(now)
        self._bytes_from: dict[bytes, int] = {}
        self._pex_version = 0
        self._next_rechoke = now + config.rechoke_interval
        self._next_optimistic = now + config.optimistic_interval
        self._refill_at: float | None = None
        self._verifying_file = False
        self._complete = False
        self._shutting_down = False
        self._uploader = Uploader(config, now, self._peers, self._send, self._emit)
        self._meta = MetainfoFetch(metainfo)
        self.summary: ShareSummary | None = None
        self.picker: Picker | None = None
        self._super: SuperSeeder | None = None  # while super-seeding [SEED]
        if metainfo is not None:
            self._learn_summary(metainfo.summary, have.to_bytes() if have is not None else None)
            if have is not None and self.picker is not None and self.picker.complete:
                self._complete = True
                if config.super_seeding:  # an initial seeder [SEED-1]
                    summary = metainfo.summary
                    lengths = [summary.piece_length(i) for i in range(metainfo.piece_count)]
                    self._super = SuperSeeder(metainfo.piece_count, lengths, self._rng)
                    self._uploader.on_sent = self._super_sent
            elif metainfo.piece_count == 0:
                self._verify_file()

    # === public API ============================================================================
    def add_bootstrap(self, host: str, port: int, now: float) -> None:
        """A user-given peer address: dialed at once, whatever its peer ID."""
        self._book.add_bootstrap(host, port, now)
        self._maybe_dial(now)

    def connection_opened(
        self, conn_id: int, host: str, port: int, outbound: bool, now: float
    ) -> None:
        """A TCP connection is up (we dialed (host, port), or (host, port) dialed us)."""
        if conn_id in self._peers:
            raise ValueError(f"connection {conn_id} is already open")
        if outbound:
            self._pending_dials.discard((host, port))
        conn = Connection(Role.DIALER if outbound else Role.ACCEPTOR, self.share_id)
        peer = PeerSlot(conn_id, conn, host, port, outbound, now)
        peer.depth = self.config.initial_pipeline_depth
        peer.pex = PexPacer(self.config.pex_min_interval)
        self._peers[conn_id] = peer
        self._stale.add(conn_id)
        if outbound:
            self._busy += 1
        self._hosts.add(host)
        if not outbound and not self._admit(peer, now):
            return
        if self._shutting_down:
            self._drop(peer, ErrorCode.SHUTDOWN, "shutting down", now)
        elif self.summary is not None:
            self._send_handshake(peer, now)  # [HS-11] acceptor at once, [HS-13] dialer too
        elif not outbound:
            # [HS-17] the acceptor must speak first, but cannot describe a share it does not know
            self._drop(peer, ErrorCode.SHUTDOWN, "share not known yet", now)
        # else [HS-12]: a dialer that knows no summary waits for the acceptor's handshake

    def data_received(self, conn_id: int, data: bytes | bytearray | memoryview, now: float) -> None:
        """Bytes arrived on `conn_id` (b"" = EOF); not kept after the call (may be a view)."""
        peer = self._peers.get(conn_id)
        if peer is None:
            return  # closed by us already; late bytes are dropped
        peer.conn.receive_data(data)
        self._parse(peer, now)

    def get_buffer(self, conn_id: int, size: int) -> memoryview | None:
        """Room to read the next bytes of `conn_id` into, at least `size` bytes (see
        Connection.get_buffer); report what was read with buffer_updated. None: the connection
        is closed already (its late bytes would be dropped)."""
        peer = self._peers.get(conn_id)
        return None if peer is None else peer.conn.get_buffer(size)

    def buffer_updated(self, conn_id: int, nbytes: int, now: float) -> None:
        """`nbytes` bytes arrived on `conn_id`, read into the view of get_buffer: data_received
        without the copy into the connection's buffer."""
        peer = self._peers.get(conn_id)
        if peer is None:
            return
        peer.conn.buffer_updated(nbytes)
        self._parse(peer, now)

    def _parse(self, peer: PeerSlot, now: float) -> None:
        """Handle every complete frame the connection has buffered."""
        conn, conn_id = peer.conn, peer.conn_id
        peer.last_recv = now
        self._stale.add(conn_id)  # (a handler that touches other connections marks them)
        handlers = self._handlers
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as err:
                self._drop(peer, err.code, f"[{err.requirement}] {err.reason}", now, error=err)
                return
            if event is NEED_DATA:
                return
            handlers[type(event)](self, peer, event, now)
            if conn_id not in self._peers:
                return

    def connection_lost(self, conn_id: int, now: float) -> None:
        """The transport is gone (closed by either side, or failed)."""
        peer = self._peers.get(conn_id)
        if peer is not None:
            self._forget(peer, "connection lost", ErrorCode.SHUTDOWN, now)

    def dial_failed(self, host: str, port: int, now: float) -> None:
        """A `Dial` did not connect."""
        self._pending_dials.discard((host, port))
        self._book.dial_failed(host, port, now)
        self._maybe_dial(now)

    def piece_hashed(self, index: int, digest: bytes, now: float) -> None:
        """The node's SHA-256 of stored piece `index` (answer to `VerifyPiece`).

        Good: have it, tell everyone, parole +1 per contributor. Bad: discard, fetch it again
        elsewhere, parole -2 per contributor, ban at BAN_THRESHOLD [BEH-11, BEH-12].
        """
        picker, meta = self.picker, self.metainfo
        if picker is None or meta is None or not picker.is_done(index):
            return  # not something we asked for (or asked before a reset): ignore
        contributors = self._contributors.pop(index, set())
        names = tuple(sorted(contributors))
        if digest == meta.piece_hashes[index]:
            picker.piece_verified(index)
            for pid in contributors:
                self._parole[pid] = self._parole.get(pid, 0) + 1
            self._emit(PieceVerified(index, names))
            have = Have(index=index)
            for peer in self._peers.values():
                if not peer.ready:  # (a ready peer has our handshake and bitfield)
                    continue
                # [MSG-2]; a peer that announced the piece itself needs no have [MSG-22]
                if not (peer.bitfield_received and picker.peer_has(peer.conn_id, index)):
                    self._send(peer, have, now)
                # having more can only make a peer less interesting [MSG-17]
                if peer.conn.am_interested and not picker.interesting(peer.conn_id):
                    self._send(peer, NotInterested(), now)
            if picker.complete:
                self._verify_file()
            return
        self._emit(PieceFailed(index, names))
        exclude = [p.conn_id for p in self._peers.values() if p.peer_id in contributors]
        picker.piece_failed(index, exclude, now, now + self.config.request_timeout)
        self._arm_refill(now + self.config.request_timeout)
        for pid in names:
            score = self._parole.get(pid, 0) - 2
            self._parole[pid] = score
            if score <= self.config.ban_threshold:
                self._ban(pid, now)
        self._request_everywhere(now)

    def file_hashed(self, digest: bytes, now: float) -> None:
        """The node's SHA-1 of the whole file (answer to `VerifyFile`) [META-5]."""
        if not self._verifying_file or self.metainfo is None:
            return
        self._verifying_file = False
        if digest == self.metainfo.file_sha1:
            self._complete = True
            self._emit(DownloadComplete())
        else:
            self._emit(FileCorrupt())

    def get_timer(self) -> float | None:
        """The next time `handle_timer` must be called (None: nothing scheduled).

        O(log n) per connection touched since the last call, not O(connections): it is called
        after every event. `_timer_reference` is the same answer computed from scratch.
        """
        deadline = self._next_rechoke
        # due addresses only count while a dial could start: with every slot taken the book's
        # past deadline would fire again and again (a freed slot dials at once, see _forget)
        book = self._book.next_deadline() if self._dial_room() > 0 else None
        if book is not None and book < deadline:
            deadline = book
        if self._refill_at is not None and self._refill_at < deadline:
            deadline = self._refill_at
        uploads = self._uploader.due()
        if uploads is not None and uploads < deadline:
            deadline = uploads
        peers = self._peer_deadline()
        if peers is not None and peers < deadline:
            deadline = peers
        return deadline

    def _peer_deadline(self) -> float | None:
        """The earliest deadline of any connection (None: no connections)."""
        heap, peers = self._deadlines, self._peers
        if self._all_stale or len(heap) > 2 * len(peers) + 64:  # (bounds the skipped entries)
            self._all_stale = False
            self._stale.clear()
            heap = self._deadlines = []
            for slot in peers.values():
                when = slot.deadline = self._deadline_of(slot)
                heap.append((when, slot.conn_id))
            heapq.heapify(heap)
        elif self._stale:
            for conn_id in self._stale:
                peer = peers.get(conn_id)
                if peer is not None:
                    when = self._deadline_of(peer)
                    if when != peer.deadline:  # (an unchanged deadline is in the heap already)
                        peer.deadline = when
                        heapq.heappush(heap, (when, conn_id))
            self._stale.clear()
        while heap:
            when, conn_id = heap[0]
            top = peers.get(conn_id)
            if top is not None and top.deadline == when:
                return when
            heapq.heappop(heap)  # closed, or its deadline moved since
        return None

    def _deadline_of(self, peer: PeerSlot) -> float:
        """When `handle_timer` has something to do for this connection (timeouts [HS-18,
        FRAME-10, BEH-8], keep-alive [FRAME-9], metainfo requests, paced PEX [PEX-2])."""
        cfg = self.config
        when = peer.last_recv + cfg.idle_timeout
        if not peer.bitfield_received:
            when = min(when, peer.opened_at + cfg.handshake_timeout)
        if peer.conn.our_state is not State.HANDSHAKE:
            when = min(when, peer.last_sent + cfg.keepalive_interval)
        picker = self.picker
        if picker is not None and peer.bitfield_received:
            oldest = picker.oldest_request(peer.conn_id)
            if oldest is not None:
                when = min(when, oldest + cfg.request_timeout)
        if peer.meta_inflight:
            when = min(when, min(peer.meta_inflight.values()) + cfg.request_timeout)
        if peer.pex_version != self._pex_version and peer.pex.last_sent is not None:
            when = min(when, peer.pex.last_sent + cfg.pex_min_interval)
        return when

    def _timer_reference(self) -> float | None:
        """`get_timer()` computed from scratch, every connection and the slot count walked
        (slow; the definition of correct, for the tests that check the incremental one)."""
        deadline = self._next_rechoke
        busy = sum(1 for p in self._peers.values() if p.ready or p.outbound)
        room = 0 if self._shutting_down else self.config.max_connections - busy
        book = self._book.next_deadline() if room - len(self._pending_dials) > 0 else None
        candidates = [book, self._refill_at, self._uploader.due()]
        candidates += [self._deadline_of(p) for p in self._peers.values()]
        return min([deadline] + [c for c in candidates if c is not None])

    def handle_timer(self, now: float) -> None:
        """Run everything that is due at `now`."""
        self._all_stale = True  # (it may touch every connection)
        cfg = self.config
        picker = self.picker
        for peer in list(self._peers.values()):  # one peer's timers never close another
            # [HS-18] (we also expect the bitfield, which must follow the handshake at once)
            if not peer.bitfield_received and now >= peer.opened_at + cfg.handshake_timeout:
                self._drop(peer, ErrorCode.TIMEOUT, "no handshake and bitfield in time", now)
                continue
            if now >= peer.last_recv + cfg.idle_timeout:  # [FRAME-10]
                self._drop(peer, ErrorCode.TIMEOUT, "peer sent nothing for too long", now)
                continue
            if picker is not None and peer.bitfield_received:
                oldest = picker.oldest_request(peer.conn_id)
                if oldest is not None and now >= oldest + cfg.request_timeout:
                    picker.release_all(peer.conn_id)  # [BEH-8] re-requested elsewhere; snubbed
                    peer.snubbed = True
                    peer.depth = self._depth_bound(cfg.min_pipeline_depth)
                    self._request_everywhere(now, skip=peer)
            if peer.meta_inflight:
                late = [c for c, t in peer.meta_inflight.items() if now >= t + cfg.request_timeout]
                if late:
                    peer.meta_refused = True
                    for chunk in late:
                        del peer.meta_inflight[chunk]
                        self._meta.give_back(chunk)
                    self._fetch_metainfo(now)
            if peer.ready and peer.pex_version != self._pex_version:  # (never mid-handshake)
                self._maybe_pex(peer, now)
            if (  # [FRAME-9]
                peer.conn.our_state is not State.HANDSHAKE
                and now >= peer.last_sent + cfg.keepalive_interval
            ):
                self._send(peer, KeepAlive(), now)
        if now >= self._next_rechoke:
            rotate = now >= self._next_optimistic
            if rotate:
                self._next_optimistic = _next_tick(
                    self._next_optimistic, cfg.optimistic_interval, now
                )
            self._next_rechoke = _next_tick(self._next_rechoke, cfg.rechoke_interval, now)
            self._rechoke(now, rotate)
        self._uploader.drain(now)
        if self._refill_at is not None and now >= self._refill_at:
            self._refill_at = None
            self._request_everywhere(now)
            # exclusions that end later (rejects that came after this refill was armed) get
            # their own pass: nothing else may ever wake a download whose only pieces they are
            picker = self.picker
            later = picker.next_exclusion_end(now) if picker is not None else None
            if later is not None:
                self._arm_refill(later)
        self._maybe_dial(now)

    def shutdown(self, now: float) -> None:
        """Close every connection politely (error SHUTDOWN first [ERR-8]) and dial no more."""
        self._shutting_down = True
        for peer in list(self._peers.values()):
            self._drop(peer, ErrorCode.SHUTDOWN, "shutting down", now)

    def next_action(self) -> Action | None:
        """The next thing to do, or None once drained (drain after every call)."""
        return self._actions.popleft() if self._actions else None

    def stats(self, now: float) -> SwarmStats:
        picker = self.picker
        peers = tuple(
            PeerStats(
                conn_id=p.conn_id,
                peer_id=p.peer_id,
                host=p.host,
                port=p.port,
                outbound=p.outbound,
                bytes_down=p.down.total,
                bytes_up=p.up.total,
                download_rate=p.down.rate(now),
                upload_rate=p.up.rate(now),
                am_choking=p.conn.am_choking,
                peer_choking=p.conn.peer_choking,
                am_interested=p.conn.am_interested,
                peer_interested=p.conn.peer_interested,
                snubbed=p.snubbed,
            )
            for p in self._peers.values()
            if p.ready
        )
        have_count = picker.have_count if picker is not None else 0
        summary = self.summary
        bytes_verified = 0
        if picker is not None and summary is not None and have_count:
            bytes_verified = have_count * summary.piece_size
            last = summary.piece_count - 1
            if picker.has(last):
                bytes_verified -= summary.piece_size - picker.piece_length(last)
        return SwarmStats(
            have_count=have_count,
            piece_count=summary.piece_count if summary is not None else 0,
            bytes_verified=bytes_verified,
            total_bytes=summary.file_size if summary is not None else 0,
            connected_peers=len(peers),
            download_rate=self._down.rate(now),
            upload_rate=self._uploader.rate.rate(now),
            peers=peers,
            bytes_from=dict(self._bytes_from),
            bytes_to=dict(self._uploader.bytes_to),
            metainfo_known=self.metainfo is not None,
            complete=self._complete,
        )

    @property
    def complete(self) -> bool:
        """Every piece verified and the whole file checked (or we started as a seeder)."""
        return self._complete

    def parole(self, peer_id: bytes) -> int:
        """The peer's parole score (+1 per good piece, -2 per bad one)."""
        return self._parole.get(peer_id, 0)

    # === event handlers ========================================================================
    def _on_handshake(self, peer: PeerSlot, hs: Handshake, now: float) -> None:
        """Bans, self [DUP-3], learning the share [HS-16], duplicates [DUP-4, DUP-5], PEX."""
        pid = hs.peer_id
        if self._book.is_banned(pid):
            self._drop(peer, ErrorCode.BANNED, "peer is banned", now)
            return
        if pid == self.peer_id:
            if peer.outbound:
                self._book.mark_self(peer.host, peer.port)
            self._drop(peer, ErrorCode.SELF_CONNECTION, "connected to ourselves", now)
            return
        if self.summary is None:
            self.share_id = hs.share_id
            self._learn_summary(hs.summary, None)
        elif hs.share_id != self.share_id or hs.summary != self.summary:
            # Only reachable by a dialer that waited: otherwise Connection compared the two.
            self._drop(peer, ErrorCode.SHARE_MISMATCH, "handshake describes another share", now)
            return
        if peer.conn.our_state is State.HANDSHAKE:
            self._send_handshake(peer, now)
        existing = self._by_peer_id.get(pid)
        if existing is not None:
            reason = "duplicate connection"
            if existing.outbound == peer.outbound:
                # [DUP-5] both dialed by the same node: that node closes the later one
                if peer.outbound:
                    self._drop(peer, ErrorCode.DUPLICATE_CONNECTION, reason, now)
                    return
            elif (self.peer_id if peer.outbound else pid) == max(pid, self.peer_id):
                # [DUP-4] keep the connection dialed by the greater peer ID
                self._drop(existing, ErrorCode.DUPLICATE_CONNECTION, reason, now)
            else:
                self._drop(peer, ErrorCode.DUPLICATE_CONNECTION, reason, now)
                return
        if not self._make_room(peer, now):
            return
        peer.peer_id = pid
        peer.listen_port = hs.listen_port
        peer.ready = True
        if not peer.outbound:
            self._busy += 1
        if peer.conn.capabilities_in_force & Capability.SPAN and self.summary is not None:
            peer.span_run = span_run(self.summary.piece_size)
        peer.last_data = now
        self._by_peer_id.setdefault(pid, peer)
        host, port = peer.listen_address
        if not peer.outbound:
            self._book.remember(host, port, pid, now)
        self._book.connected(host, port, pid)
        if port:
            try:
                peer.pex_entry = PeerEntry(peer_id=pid, host=host, port=port)
            except ProtocolError:
                peer.pex_entry = None  # not an IP literal: cannot be advertised
        in_force = int(peer.conn.capabilities_in_force)
        self._emit(PeerConnected(peer.conn_id, pid, peer.host, peer.port, peer.outbound, in_force))
        self._connected_set_changed(now)
        if self._choker.may_unchoke_new(self._unchoked_count()):
            self._unchoke(peer, now)

    def _on_bitfield(self, peer: PeerSlot, event: Bitfield, now: float) -> None:
        picker = self.picker
        assert picker is not None  # a handshake (so a summary) always precedes the bitfield
        picker.add_peer(peer.conn_id, event.bits)
        peer.bitfield_received = True
        peer.depth = self._depth_bound(self.config.initial_pipeline_depth)
        if self._super is not None:
            for index in range(picker.piece_count):
                if picker.peer_has(peer.conn_id, index):
                    self._super_seen(index, now)
                    if self._super is None:
                        break
        self._update_interest(peer, now)
        if self.metainfo is None:
            self._fetch_metainfo(now)

    def _on_have(self, peer: PeerSlot, event: Have, now: float) -> None:
        picker = self.picker
        assert picker is not None
        picker.peer_have(peer.conn_id, event.index)
        if self._super is not None:
            self._super_seen(event.index, now)
            self._offer(peer, now)
        if not picker.has(event.index):
            self._update_interest(peer, now)

    def _on_request(self, peer: PeerSlot, event: Request, now: float) -> None:
        block = (event.index, event.offset, event.length)
        self._uploader.request(peer, block, 0, self._announced(peer, event.index), now)

    def _on_span_request(self, peer: PeerSlot, event: SpanRequest, now: float) -> None:
        index, count = event.index, event.count
        held = all(self._announced(peer, i) for i in range(index, index + count))
        self._uploader.request(peer, (index, 0, 0), count, held, now)

    def _announced(self, peer: PeerSlot, index: int) -> bool:
        """Did we tell this peer we have the piece (so must serve it, MSG-20)? A super-seeder
        serves only what it announced to the requester [SEED-2]."""
        if self._super is not None:
            return self._super.announced(peer.conn_id, index)
        picker = self.picker
        assert picker is not None
        return picker.has(index)

    def _on_piece(self, peer: PeerSlot, event: Piece, now: float) -> None:
        data = event.data
        self._count_download(peer, len(data), now)
        cancels = self._block_arrived(peer, (event.index, event.offset, len(data)), data, now)
        self._after_data(peer, cancels, now)

    def _on_span_data(self, peer: PeerSlot, event: SpanData, now: float) -> None:
        """A span's pieces, each stored and verified on its own [SPAN-8]."""
        summary = self.summary
        assert summary is not None
        data = memoryview(event.data)
        self._count_download(peer, len(data), now)
        cancels: list[tuple[int, Block]] = []
        start = 0
        for block in span_blocks(event.span, summary.piece_size, summary.file_size):
            end = start + block[2]
            cancels += self._block_arrived(peer, block, data[start:end], now)
            start = end
        self._after_data(peer, cancels, now)

    def _count_download(self, peer: PeerSlot, size: int, now: float) -> None:
        assert peer.peer_id is not None
        peer.last_data = now
        peer.down.add(size, now)
        self._down.add(size, now)
        pid = peer.peer_id
        self._bytes_from[pid] = self._bytes_from.get(pid, 0) + size

    def _block_arrived(
        self, peer: PeerSlot, block: Block, data: bytes | memoryview, now: float
    ) -> list[tuple[int, Block]]:
        """Store it if still needed, hash the piece once complete; the duplicates to cancel."""
        picker = self.picker
        assert picker is not None and peer.peer_id is not None
        useful, cancels = picker.block_received(peer.conn_id, block)
        for other_id, triple in cancels:
            other = self._peers[other_id]
            self._stale.add(other_id)  # its oldest request may have gone with the copy
            if triple in other.conn.our_requests:  # (a span is not cancelled piece by piece)
                i, o, n = triple
                self._send(other, Cancel(index=i, offset=o, length=n), now)
        if useful:
            index = block[0]
            pid = peer.peer_id
            self._emit(StoreBlock(index, block[1], data))
            contributors = self._contributors.get(index)
            self._last_host[pid] = peer.host  # (a ban after it left still names it)
            if contributors is None:
                self._contributors[index] = {pid}
            else:
                contributors.add(pid)
            if picker.is_done(index):
                self._emit(VerifyPiece(index))
        return cancels

    def _after_data(self, peer: PeerSlot, cancels: list[tuple[int, Block]], now: float) -> None:
        """Adapt the peer's pipeline depth to its rate and top up every pipeline that shrank."""
        picker = self.picker
        assert picker is not None
        peer.snubbed = False
        cfg = self.config
        if peer.down.elapsed(now) >= cfg.pipeline_seconds:
            depth = int(peer.down.rate(now) * cfg.pipeline_seconds / picker.block_size)
            floor = self._depth_bound(cfg.min_pipeline_depth)
            peer.depth = max(floor, min(cfg.max_pipeline_depth, depth))
        self._request_more(peer, now)
        for other_id, _ in cancels:
            other = self._peers[other_id]
            self._request_more(other, now)

    def _on_reject(self, peer: PeerSlot, event: Reject, now: float) -> None:
        picker = self.picker
        assert picker is not None
        until = now + self.config.reject_backoff
        picker.block_rejected(peer.conn_id, (event.index, event.offset, event.length), now, until)
        self._arm_refill(until)
        self._request_everywhere(now, skip=peer)

    def _on_span_reject(self, peer: PeerSlot, event: SpanReject, now: float) -> None:
        picker, summary = self.picker, self.summary
        assert picker is not None and summary is not None
        until = now + self.config.reject_backoff
        for block in span_blocks(event.span, summary.piece_size, summary.file_size):
            picker.block_rejected(peer.conn_id, block, now, until)
        self._arm_refill(until)
        self._request_everywhere(now, skip=peer)

    def _on_cancel(self, peer: PeerSlot, event: Cancel, now: float) -> None:
        block = (event.index, event.offset, event.length)
        self._uploader.cancel(peer, (peer.conn_id, block, 0), now)

    def _on_span_cancel(self, peer: PeerSlot, event: SpanCancel, now: float) -> None:
        self._uploader.cancel(peer, (peer.conn_id, (event.index, 0, 0), event.count), now)

    def _on_choke(self, peer: PeerSlot, event: Choke, now: float) -> None:
        """Nothing to undo: every request still gets its one reply [MSG-4, MSG-21], the data an
        uploader wrote before choking us or a reject for what it will not serve [MSG-16], and
        each reject puts its block back. Re-requesting elsewhere at the choke fetched most of
        those blocks twice: the swarm simulator (#19) found the first copy already on its way
        (an uploader writes what it accepts at once) in a third of all duplicate bytes. A peer
        that never replies is caught by the request timeout [BEH-8] as before."""

    def _on_unchoke(self, peer: PeerSlot, event: Unchoke, now: float) -> None:
        self._request_more(peer, now)

    def _on_interested(self, peer: PeerSlot, event: Interested, now: float) -> None:
        conn = peer.conn
        if not conn.am_choking:
            return
        if not self._choker.may_unchoke_new(self._unchoked_count()):
            # [BEH-17] a slot held by a peer that wants nothing goes to this one at once:
            # connections that never ask cannot make it wait for the next rechoke
            idle = next(
                (
                    p
                    for p in self._peers.values()
                    if p.ready
                    and not p.conn.am_choking
                    and not p.conn.peer_interested
                    and p.conn_id != self._choker.optimistic
                ),
                None,
            )
            if idle is None:
                return
            self._choke(idle, now)
        self._unchoke(peer, now)

    def _on_not_interested(self, peer: PeerSlot, event: NotInterested, now: float) -> None:
        pass  # the next rechoke gives its slot to someone interested

    def _on_peers(self, peer: PeerSlot, event: Peers, now: float) -> None:
        assert peer.peer_id is not None
        last = peer.last_pex_received
        if last is not None and now - last < self.config.pex_min_interval / 2:
            err = RemoteProtocolError(
                ErrorCode.PEX_VIOLATION,
                "PEX-9",
                f"peers messages {now - last:.3f} s apart, minimum {self.config.pex_min_interval}",
            )
            self._drop(peer, err.code, f"[{err.requirement}] {err.reason}", now, error=err)
            return
        peer.last_pex_received = now
        if self._book.add_pex(peer.peer_id, event.entries, now):
            self._maybe_dial(now)

    def _on_metainfo_request(self, peer: PeerSlot, event: MetainfoRequest, now: float) -> None:
        self._send(peer, self._meta.reply(event.chunk), now)  # [META-11]

    def _on_metainfo_data(self, peer: PeerSlot, event: MetainfoData, now: float) -> None:
        peer.meta_inflight.pop(event.chunk, None)
        summary = self.summary
        assert peer.peer_id is not None and summary is not None
        if self._meta.received(event.chunk, event.data, peer.peer_id, chunk_total(summary)):
            self._metainfo_complete(now)
        else:
            self._fetch_metainfo(now)

    def _on_metainfo_reject(self, peer: PeerSlot, event: MetainfoReject, now: float) -> None:
        if peer.meta_inflight.pop(event.chunk, None) is not None:
            self._meta.give_back(event.chunk)
        peer.meta_refused = True
        self._fetch_metainfo(now)

    def _on_error(self, peer: PeerSlot, event: Error, now: float) -> None:
        try:
            code = ErrorCode(event.code)
        except ValueError:
            code = ErrorCode.SHUTDOWN
        reason = f"peer closed with error {event.code}: {event.reason}"
        self._emit(Close(peer.conn_id, code, reason))
        self._forget(peer, reason, code, now)

    def _on_keepalive(self, peer: PeerSlot, event: KeepAlive, now: float) -> None:
        pass  # last_recv was already updated

    def _on_closed(self, peer: PeerSlot, event: ConnectionClosed, now: float) -> None:
        reason = "peer closed the connection"
        self._emit(Close(peer.conn_id, ErrorCode.SHUTDOWN, reason))
        self._forget(peer, reason, ErrorCode.SHUTDOWN, now)

    _handlers: dict[type, Callable[..., None]]

    # === helpers ===============================================================================
    def _emit(self, action: Action) -> None:
        self._actions.append(action)

    def _emit_send(self, peer: PeerSlot, data: bytes, now: float) -> None:
        self._actions.append(Send(peer.conn_id, data))
        peer.last_sent = now
        self._stale.add(peer.conn_id)

    def _send(self, peer: PeerSlot, event: Event, now: float) -> None:
        self._emit_send(peer, peer.conn.send(event), now)

    def _send_handshake(self, peer: PeerSlot, now: float) -> None:
        summary = self.summary
        assert summary is not None and self.share_id is not None and self.picker is not None
        hs = Handshake.for_share(
            peer_id=self.peer_id,
            listen_port=self.listen_port,
            share_id=self.share_id,
            summary=summary,
            flags=self.config.capabilities,
        )
        conn = peer.conn
        if self._super is None:
            bits = self.picker.have_bits()
        else:  # [SEED-1] nothing announced yet: offers follow as have messages
            self._super.add_peer(peer.conn_id)
            bits = bytes((self.picker.piece_count + 7) // 8)
        frames = conn.send(hs) + conn.send(Bitfield(bits=bits))
        self._emit_send(peer, frames, now)

    def _learn_summary(self, summary: ShareSummary, have_bits: bytes | None) -> None:
        self.summary = summary
        self.picker = Picker(
            file_size=summary.file_size,
            piece_size=summary.piece_size,
            have=have_bits,
            rng=self._rng,
            block_size=self.config.block_size,
            random_first=self.config.random_first_pieces,
        )
        if self.metainfo is None:
            self._meta.start(summary)

    def _update_interest(self, peer: PeerSlot, now: float) -> None:
        """After its bitfield or a have: say we are interested (once) and ask [MSG-17].

        Losing interest happens only when we gain pieces: see `piece_hashed`.
        """
        picker = self.picker
        assert picker is not None
        if picker.interesting(peer.conn_id):
            if not peer.conn.am_interested:  # [MSG-17] only changes are sent
                self._send(peer, Interested(), now)
            self._request_more(peer, now)

    def _request_more(self, peer: PeerSlot, now: float) -> None:
        """Top up the peer's request pipeline to its depth, depth/4 requests at a time [BEH-1]
        (never while choked, MSG-8; never before the metainfo is verified, META-10)."""
        picker = self.picker
        conn = peer.conn
        if (
            picker is None
            or self.metainfo is None
            or conn.peer_choking
            or not conn.am_interested
            or not peer.bitfield_received
        ):
            return
        inflight = picker.inflight(peer.conn_id)
        count = peer.depth - inflight
        if count <= 0 or (inflight and count < peer.depth // 4):
            return  # one request message (and one wake-up of the peer) per several blocks
        run = peer.span_run if not picker.in_endgame else 1
        blocks = picker.pick(peer.conn_id, count, now, run)
        if not blocks:
            return
        if run > 1:  # extension SPAN in force: runs of whole pieces as spans [SPAN-1]
            summary = self.summary
            assert summary is not None
            spans, blocks = split_spans(blocks, summary.piece_size, summary.file_size, run)
            if spans:
                self._emit_send(peer, conn.send_spans(spans), now)
            if not blocks:
                return
        self._emit_send(peer, conn.send_requests(blocks), now)

    def _depth_bound(self, depth: int) -> int:
        """The starting or lowest pipeline depth for this share's blocks [BEH-1]: counted in
        blocks of at most 64 KiB, fewer blocks when they are larger. With whole 256 KiB pieces
        as blocks (BEH-2), 16 to start and at least 4 kept four seconds of data queued at an
        uploader that sends a peer 2 Mbit/s: the swarm simulator (#19) saw every downloader of
        a flash crowd asking for pieces seconds before they could come, the swarm trading late
        and a long end-game (50 x 64 pieces: D/D_min 2.36 -> 1.62, wasted 11 % -> 7 %)."""
        picker = self.picker
        block = picker.block_size if picker is not None else _DEPTH_UNIT
        if block <= _DEPTH_UNIT:
            return depth
        return max(1, depth * _DEPTH_UNIT // block)

    def _request_everywhere(self, now: float, skip: PeerSlot | None = None) -> None:
        for peer in list(self._peers.values()):
            if peer is not skip and peer.conn_id in self._peers:
                self._request_more(peer, now)

    def _arm_refill(self, when: float) -> None:
        if self._refill_at is None or when < self._refill_at:
            self._refill_at = when

    def _unchoked_count(self) -> int:
        return sum(1 for p in self._peers.values() if p.ready and not p.conn.am_choking)

    def _rechoke(self, now: float, rotate: bool) -> None:
        active = [p for p in self._peers.values() if p.ready and p.bitfield_received]
        candidates = [
            ChokeCandidate(
                p.conn_id,
                p.conn.peer_interested,
                p.down.rate(now),
                p.up.rate(now),
                p.up.total - p.down.total,
            )
            for p in active
        ]
        seeding = self.picker is not None and self.picker.complete
        chosen = self._choker.rechoke(candidates, seeding=seeding, rotate_optimistic=rotate)
        for peer in active:
            if peer.conn_id in chosen:
                if peer.conn.am_choking:
                    self._unchoke(peer, now)
            elif not peer.conn.am_choking:
                self._choke(peer, now)

    def _choke(self, peer: PeerSlot, now: float) -> None:
        self._send(peer, Choke(), now)
        self._uploader.choked(peer, now)
        if self._super is not None:
            self._super.choked(peer.conn_id)
            self._offer_everywhere(now)  # its offers went back to the pool

    def _unchoke(self, peer: PeerSlot, now: float) -> None:
        self._send(peer, Unchoke(), now)
        self._offer(peer, now)

    # --- super-seeding [SEED] -------------------------------------------------------------------
    def _offer(self, peer: PeerSlot, now: float) -> None:
        """Announce the pieces the super-seeder offers this peer, if it is unchoked [SEED-3]."""
        sup = self._super
        if sup is None or peer.conn.am_choking or not peer.ready:
            return
        for index in sup.offer(peer.conn_id):
            self._send(peer, Have(index=index), now)

    def _offer_everywhere(self, now: float) -> None:
        for peer in self._peers.values():
            self._offer(peer, now)

    def _super_seen(self, index: int, now: float) -> None:
        """A peer announced `index`: its holder may get a new offer; once every piece is in the
        swarm, super-seeding ends and every peer hears of every piece [SEED-4]."""
        sup = self._super
        assert sup is not None
        holder = sup.peer_has(index)
        if sup.done:
            self._super = None
            self._uploader.on_sent = None
            for peer in self._peers.values():
                if peer.conn.our_state is not State.HANDSHAKE:  # (our bitfield went out)
                    for i in range(sup.piece_count):
                        if not sup.announced(peer.conn_id, i):
                            self._send(peer, Have(index=i), now)
        elif holder is not None:
            other = self._peers.get(holder)
            if other is not None:
                self._offer(other, now)

    def _super_sent(self, peer: PeerSlot, index: int, length: int, span: int, now: float) -> None:
        """Data went to a peer: an offer written in full makes room for the next one."""
        sup, picker = self._super, self.picker
        assert sup is not None and picker is not None
        if span:
            pieces = [(i, picker.piece_length(i)) for i in range(index, index + span)]
        else:
            pieces = [(index, length)]
        if any([sup.sent(peer.conn_id, i, n) for i, n in pieces]):
            self._offer(peer, now)

    def _connected_set_changed(self, now: float) -> None:
        self._pex_version += 1
        self._all_stale = True  # (every connection's PEX is due again)
        for peer in list(self._peers.values()):
            if peer.ready:
                self._maybe_pex(peer, now)

    def _maybe_pex(self, peer: PeerSlot, now: float) -> None:
        """Send a peers message if the set changed and pacing allows [PEX-2]."""
        if peer.pex.due(now) > now:
            return  # get_timer() brings us back when it is allowed
        peer.pex_version = self._pex_version
        connected = (p.pex_entry for p in self._peers.values() if p.ready and p.pex_entry)
        entries = build_pex_entries(
            (e for e in connected if e is not None),
            peer.peer_id,
            self.config.max_pex_entries,
            peer.host,
        )
        if peer.pex.should_send(entries, now):
            self._send(peer, Peers(entries=entries), now)

    def _maybe_dial(self, now: float) -> None:
        if self._shutting_down:
            return
        due = self._book.next_deadline()
        if due is None or due > now:
            return
        room = self._dial_room()
        if room <= 0:
            return
        dials = self._book.take_dials(now, room, need=not self._complete, pacer=self._pacer)
        for host, port in dials:
            self._pending_dials.add((host, port))
            self._emit(Dial(host, port))

    def _dial_room(self) -> int:
        """Dials that may start now: free peer slots minus dials under way (handshaking
        inbound connections do not take a peer slot [SEC-7]); none while shutting down."""
        if self._shutting_down:
            return 0
        return self.config.max_connections - self._busy - len(self._pending_dials)

    def _fetch_metainfo(self, now: float) -> None:
        """Ask peers for the metainfo chunks nobody is fetching yet."""
        if self.metainfo is not None or not self._meta.missing:
            return
        limit = self.config.metainfo_pipeline
        peers = [
            p
            for p in self._peers.values()
            if p.ready and p.bitfield_received and not p.meta_refused
        ]
        missing = self._meta.missing
        while missing and peers:  # one chunk per peer per round: spread the load [META-15]
            for peer in peers:
                if missing:
                    chunk = missing.pop()
                    peer.meta_inflight[chunk] = now
                    self._send(peer, MetainfoRequest(chunk=chunk), now)
            peers = [p for p in peers if len(p.meta_inflight) < limit]

    def _metainfo_complete(self, now: float) -> None:
        """Verify the assembled metainfo against the share ID [META-14]."""
        self._all_stale = True  # (every request in flight ends, the picker may change)
        summary = self.summary
        assert summary is not None
        meta, sources = self._meta.assemble(self.share_id)
        if meta is None:
            self._meta.start(summary)
            for pid in sorted(sources):
                bad = self._by_peer_id.get(pid)
                err = self._meta.problem
                if bad is not None and err is not None:
                    self._drop(bad, err.code, f"[{err.requirement}] {err.reason}", now, error=err)
            if not any(p.ready for p in self._peers.values()):
                # Nobody left vouches for the handshake summary (only the metainfo could have
                # proved it): forget it, so that the next handshake teaches it again [BEH-16].
                self.summary = None
                self.picker = None
                self._meta.stop()
                return
            self._fetch_metainfo(now)
            return
        self.metainfo = meta
        for peer in self._peers.values():
            peer.meta_inflight.clear()
        self._emit(MetainfoReady(meta))
        if meta.summary != summary:
            # The handshakes lied about the share (the verified metainfo is the truth): start
            # over with its geometry, without any of the peers that told us the wrong one.
            self._learn_summary(meta.summary, None)
            err = RemoteProtocolError(
                ErrorCode.SHARE_MISMATCH, "META-8", "handshake summary differs from the metainfo"
            )
            for peer in list(self._peers.values()):
                self._drop(peer, err.code, f"[{err.requirement}] {err.reason}", now, error=err)
        if meta.piece_count == 0:
            self._verify_file()
        self._request_everywhere(now)

    def _verify_file(self) -> None:
        self._verifying_file = True
        self._emit(VerifyFile())

    def _may_retry(self, code: ErrorCode) -> bool:
        """Redial after a close with `code`? [ERR-10]. A share mismatch found while the summary
        is not verified yet may be a liar's summary against an honest peer: the verified
        metainfo will tell, so that peer is tried again (with backoff) [BEH-16]."""
        if code is ErrorCode.SHARE_MISMATCH and self.metainfo is None:
            return True
        return code not in _NO_RETRY

    def _admit(self, peer: PeerSlot, now: float) -> bool:
        """An inbound connection: within the per-host limit [SEC-6] and the handshaking pool
        [SEC-7] (full: the oldest handshaking inbound connection makes room)? Refuses with
        TOO_MANY_CONNECTIONS as the first frame otherwise."""
        cfg = self.config
        if self._hosts.count(peer.host) > cfg.max_connections_per_host:
            reason = "too many connections from your address"
            self._drop(peer, ErrorCode.TOO_MANY_CONNECTIONS, reason, now)
            return False
        waiting = [p for p in self._peers.values() if not p.ready and not p.outbound]
        if len(waiting) > cfg.max_handshaking:
            oldest = min(waiting, key=lambda p: (p.opened_at, p.conn_id))
            reason = "too many connections in handshake"
            self._drop(oldest, ErrorCode.TOO_MANY_CONNECTIONS, reason, now)
            return oldest is not peer
        return True

    def _make_room(self, peer: PeerSlot, now: float) -> bool:
        """A handshake completes while every peer slot is taken [DUP-7]: replace the peer
        longest without piece data if that is EVICT_IDLE or more [SEC-8], else refuse it."""
        ready = [p for p in self._peers.values() if p.ready]
        if len(ready) < self.config.max_connections:
            return True
        victim_id = pick_eviction(
            ((p.conn_id, p.last_data, p.opened_at) for p in ready), now, self.config.evict_idle
        )
        if victim_id is None:
            self._drop(peer, ErrorCode.TOO_MANY_CONNECTIONS, "too many connections", now)
            return False
        victim = self._peers[victim_id]
        self._drop(victim, ErrorCode.TOO_MANY_CONNECTIONS, "replaced by a new peer (idle)", now)
        return True

    def _ban(self, peer_id: bytes, now: float) -> None:
        """Ban once [SEC-11]: later failed pieces it contributed to do not ban (or report) again."""
        if self._book.is_banned(peer_id):
            return
        peer = self._by_peer_id.get(peer_id)
        host, port = peer.listen_address if peer is not None else ("", 0)
        host = host or self._last_host.get(peer_id, "")
        self._book.ban(peer_id, host, port)
        self._emit(PeerBanned(peer_id, host))
        if peer is not None:
            self._drop(peer, ErrorCode.BANNED, "sent too many bad pieces", now)

    def _drop(
        self,
        peer: PeerSlot,
        code: ErrorCode,
        reason: str,
        now: float,
        error: ProtocolError | None = None,
    ) -> None:
        """Send an error frame naming the requirement, close, forget [ERR-3, ERR-4, ERR-8]."""
        frame = Error.from_exception(error) if error is not None else Error.build(code, reason)
        self._emit(Send(peer.conn_id, peer.conn.send(frame)))
        self._emit(Close(peer.conn_id, code, reason))
        violation = error is not None or code is ErrorCode.BANNED
        self._forget(peer, reason, code, now, violation=violation)

    def _forget(
        self, peer: PeerSlot, reason: str, code: ErrorCode, now: float, *, violation: bool = False
    ) -> None:
        """Remove every trace of a closed connection and let the others take over its work.

        From here on the connection no longer counts against any limit [SEC-6, SEC-7].
        """
        del self._peers[peer.conn_id]
        if peer.ready or peer.outbound:
            self._busy -= 1
        self._hosts.remove(peer.host)
        pid = peer.peer_id
        picker = self.picker
        if picker is not None and peer.bitfield_received:
            picker.remove_peer(peer.conn_id)
        self._choker.forget(peer.conn_id)
        for chunk in peer.meta_inflight:
            self._meta.give_back(chunk)
        peer.meta_inflight.clear()
        self._uploader.forget(peer.conn_id)
        if self._super is not None:
            self._super.forget(peer.conn_id)
            self._offer_everywhere(now)
        if peer.ready:
            assert pid is not None
            if self._by_peer_id.get(pid) is peer:
                del self._by_peer_id[pid]
                for other in self._peers.values():  # a duplicate the peer has yet to close
                    if other.ready and other.peer_id == pid:
                        self._by_peer_id[pid] = other
                        break
            host, port = peer.listen_address
            retry = self._may_retry(code) and not self._book.is_banned(pid)
            self._book.disconnected(host, port, pid, now, retry=retry, violation=violation)
        elif peer.outbound:
            retry = self._may_retry(code)
            self._book.disconnected(
                peer.host, peer.port, None, now, retry=retry, violation=violation
            )
        self._emit(PeerDisconnected(peer.conn_id, pid, reason))
        if peer.ready:
            self._connected_set_changed(now)
        self._request_everywhere(now)
        self._fetch_metainfo(now)
        self._maybe_dial(now)


Swarm._handlers = {
    SpanRequest: Swarm._on_span_request,
    SpanData: Swarm._on_span_data,
    SpanReject: Swarm._on_span_reject,
    SpanCancel: Swarm._on_span_cancel,
    Handshake: Swarm._on_handshake,
    Bitfield: Swarm._on_bitfield,
    Have: Swarm._on_have,
    Request: Swarm._on_request,
    Piece: Swarm._on_piece,
    Reject: Swarm._on_reject,
    Cancel: Swarm._on_cancel,
    Choke: Swarm._on_choke,
    Unchoke: Swarm._on_unchoke,
    Interested: Swarm._on_interested,
    NotInterested: Swarm._on_not_interested,
    Peers: Swarm._on_peers,
    MetainfoRequest: Swarm._on_metainfo_request,
    MetainfoData: Swarm._on_metainfo_data,
    MetainfoReject: Swarm._on_metainfo_reject,
    Error: Swarm._on_error,
    KeepAlive: Swarm._on_keepalive,
    ConnectionClosed: Swarm._on_closed,
}


def _next_tick(previous: float, interval: float, now: float) -> float:
    """The first multiple of `interval` after `previous` that is later than `now`."""
    tick = previous + interval
    if tick <= now:
        tick += ((now - tick) // interval + 1) * interval
    return tick
