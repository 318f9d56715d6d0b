"""The asyncio node: sockets, one timer and the disk around the sans-IO Swarm.

Every protocol decision (whom to dial, what to request, when to time out, whom to ban) is the
core's. This module only carries bytes in and actions out: after each call into the swarm it
drains `next_action()` and re-arms a single `loop.call_at` from `get_timer()` (aioquic style).
The rest lives in rooms of its own: the socket glue (transport.py), the download's file and
disk pipeline (downloadfile.py), the checks before start (preparation.py), the resume state
writes (statewriter.py), progress figures (progress.py) and when to give up (giveup.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from p2pshare_core import actions as act
from p2pshare_core.bitfield import Bitfield
from p2pshare_core.capabilities import IMPLEMENTED, extension_names
from p2pshare_core.config import SwarmConfig
from p2pshare_core.events import Handshake
from p2pshare_core.link import ShareLink
from p2pshare_core.lsd import LocalDiscovery
from p2pshare_core.metainfo import Metainfo
from p2pshare_core.rate import RateMeter
from p2pshare_core.swarm import Swarm
from p2pshare_core.tree import TreeMetainfo

from p2pshare_node import events as ev
from p2pshare_node.advertise import Advertised, reachable_host
from p2pshare_node.config import NodeConfig
from p2pshare_node.dirlock import DownloadLock
from p2pshare_node.diskworker import DiskWorker
from p2pshare_node.downloadfile import DISK_BACKLOG_MAX, DownloadFile
from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.faults import Faults
from p2pshare_node.filetracker import FileTracker
from p2pshare_node.giveup import GiveUpClock
from p2pshare_node.hashing import whole_digest
from p2pshare_node.journal import read_journal
from p2pshare_node.lan import LanDiscovery
from p2pshare_node.listening import Listener as SocketListener
from p2pshare_node.listening import open_listener
from p2pshare_node.paths import UnsafeNameError, journal_path, safe_output_path
from p2pshare_node.preparation import (
    create_part,
    ensure_output_dir,
    final_path,
    open_shared_file,
    open_shared_tree,
    recheck,
    refuse_if_present,
)
from p2pshare_node.probe import probe_share
from p2pshare_node.progress import progress_event
from p2pshare_node.ranges import PieceFlags
from p2pshare_node.readlimit import ReadLimiter
from p2pshare_node.resume import ResumeState, find_state
from p2pshare_node.safeio import remove_quietly
from p2pshare_node.statewriter import StateWriter
from p2pshare_node.storage import PieceStore
from p2pshare_node.transport import PeerProtocol, PendingBlock
from p2pshare_node.treestore import Store
from p2pshare_node.vouching import Vouching

__all__ = ["DISK_BACKLOG_MAX", "Listener", "Node"]

Listener = Callable[[ev.NodeEvent], None]


class Node:
    """One p2pshare peer: seeds a file or downloads one, and keeps seeding after completion."""

    def __init__(self, config: NodeConfig, *, peer_id: bytes | None = None) -> None:
        self.config = config
        self.peer_id = peer_id if peer_id is not None else os.urandom(20)
        self.listen_port = 0
        self.metainfo: Metainfo | None = None
        self.share_id: bytes | None = config.share_id
        self.output_path: Path | None = None  # final path of the download (or the shared file)
        self._listeners: list[Listener] = []
        self._faults = Faults(config.faults)
        self._swarm: Swarm | None = None
        self._server: SocketListener | None = None
        self._advertised: Advertised | None = None
        self._serving = False
        self._conns: dict[int, PeerProtocol] = {}
        self._next_conn_id = 1
        self._timer: asyncio.TimerHandle | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._store: Store | None = None  # the file served from (and written, downloading)
        self._files: FileTracker | None = None  # a folder share's per-file completion
        self._download: DownloadFile | None = None  # NAME.part until it is moved into place
        self._verified = PieceFlags()
        self._resumed = 0
        self._peers: dict[int, str] = {}  # conn_id -> peer id hex (connected peers)
        self._state: StateWriter | None = None
        self._lock: DownloadLock | None = None  # held while a download's NAME.part is ours
        self._read_limit: ReadLimiter | None = None  # --max-download-rate (readlimit.py)
        self._rate_paused = False
        self._lan: LanDiscovery | None = None  # local peer discovery; --no-lan turns it off
        self._hash_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="p2pshare-hash")
        self._vouching = Vouching(self._emit, self._track, self._hash_pool)  # [STORE-6]
        # Writes and piece hashes run in order on one thread (see diskworker.py); the file's
        # SHA-1 on a second one, over pieces already verified, so the two hashes run in parallel.
        self._disk: DiskWorker | None = None
        self._file_hash: DiskWorker | None = None
        self._holding = False  # inside `_held`: swarm calls are pumped once, at the end
        self._pump_due = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self._done: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._complete = False
        self._closing = False
        self._close_started = False
        self._down: RateMeter | None = None
        self._give_up = GiveUpClock(config.give_up_after)
        self._up: RateMeter | None = None
        self._action_handlers = self._action_table()
        self._unreported: list[ev.PieceDone] = []  # verified, journal record not written yet

    # --- public API --------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """Call listener(event) for every NodeEvent, synchronously, in order."""
        self._listeners.append(listener)

    def subscribe(self) -> asyncio.Queue[ev.NodeEvent]:
        """An unbounded queue receiving every NodeEvent (convenient for tests)."""
        queue: asyncio.Queue[ev.NodeEvent] = asyncio.Queue()
        self.add_listener(queue.put_nowait)
        return queue

    @property
    def share_link(self) -> str | None:
        """p2pshare://HOST:PORT/SHAREID once the share id and port are known."""
        if self.share_id is None or not self.listen_port:
            return None
        host = self.advertised.host
        return str(ShareLink(host, self.config.advertise_port or self.listen_port, self.share_id))

    @property
    def advertised(self) -> Advertised:
        """The host this node's links name, and a note when only this machine can use it."""
        if self._advertised is None:
            self._advertised = reachable_host(self.config.listen_host, self.config.advertise_host)
        return self._advertised

    @property
    def peer_count(self) -> int:
        """Peers connected now (handshakes done)."""
        return len(self._peers)

    @property
    def complete(self) -> bool:
        return self._complete

    async def start(self) -> None:
        """Prepare the file, listen, and start talking to the bootstrap peers.

        Raises NodeError for everything a user can fix (missing file, port in use, ...).
        """
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._t0 = loop.time()
        self._done = loop.create_future()
        self._closed = loop.create_future()
        self._disk = DiskWorker(loop, wake=self._disk_results)
        self._file_hash = DiskWorker(loop, name="p2pshare-sha1", wake=self._disk_results)
        self._state = StateWriter(
            loop, self.config.state_interval, self._state_snapshot, self._fail
        )
        self._down = RateMeter(self._t0)
        self._up = RateMeter(self._t0)
        if self.config.max_download_rate:
            self._read_limit = ReadLimiter(self.config.max_download_rate, self._t0)
        have: Bitfield | None = None
        if self.config.seeding:
            have = await self._prepare_seed()
        else:
            have = await self._prepare_download()
        self._server = await open_listener(
            lambda: PeerProtocol(self, outbound=False),
            self.config.listen_host,
            self.config.listen_port,
        )
        self.listen_port = self._server.port
        self._give_up.start(loop.time())  # (waiting for a first peer is the probe's)
        config = SwarmConfig(
            max_upload_rate=self.config.max_upload_rate,
            super_seeding=self.config.super_seeding,
            max_connections_per_host=self.config.max_connections_per_host,
            capabilities=int(IMPLEMENTED) if self.config.extensions else 0,
        )
        self._swarm = Swarm(
            peer_id=self.peer_id,
            listen_port=self.listen_port,
            share_id=self.share_id,
            metainfo=self.metainfo,
            have=have,
            config=config,
            now=loop.time(),
        )
        if self._swarm.summary is not None and self._server is not None:
            # accept before announcing: the link in the Started event must work at once
            self._serving = True
            await self._server.start_serving()
        self._emit(
            ev.Started(
                peer_id=self.peer_id.hex(),
                listen_port=self.listen_port,
                role="seeder" if self.config.seeding else "leecher",
                link=self.share_link,
                link_note=self.advertised.note,
            )
        )
        if self.metainfo is not None:
            self._emit_metadata()
        if have is not None and have.complete():
            self._mark_complete(fetched=0)

        def add_bootstrap(swarm: Swarm, now: float) -> None:
            for host, port in self.config.bootstrap:
                swarm.add_bootstrap(host, port, now)

        self._drive(add_bootstrap)
        if self.config.lan and not _loopback_only(self.config.listen_host):
            await self._start_lan()  # (a node only this machine can reach has no LAN to tell)
        self._ticker = loop.call_later(self.config.progress_interval, self._tick)

    async def wait_complete(self) -> None:
        """Return once the file is complete and verified; raise NodeError if the node failed."""
        assert self._done is not None, "start() first"
        await asyncio.shield(self._done)

    async def wait_closed(self) -> None:
        """Return when the node is closed; raise NodeError if it stopped because of a failure."""
        assert self._closed is not None, "start() first"
        await asyncio.shield(self._closed)

    async def close(self) -> None:
        """Stop: save resume state, close connections and files. Safe to call twice."""
        if self._close_started:
            return
        self._close_started = True
        protos = list(self._conns.values())
        if self._swarm is not None and not self._closing:
            # [ERR-8] say goodbye with error SHUTDOWN on every connection
            with contextlib.suppress(Exception):
                self._swarm.shutdown(self._now())
                self._pump()
        self._closing = True
        for handle in (self._timer, self._ticker):
            if handle is not None:
                handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        for proto in list(self._conns.values()):
            proto.abort()
        lost = [p.lost for p in protos if p.lost is not None and not p.lost.done()]
        if lost:  # let the goodbye frames leave before the loop stops
            await asyncio.wait(lost, timeout=1.0)
        if self._lan is not None:
            self._lan.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        # A download that verified nothing leaves nothing behind ([STORE-1]).
        unfinished = self._download.store.path if self._download is not None else None
        nothing_kept = unfinished is not None and not self._verified
        if self._state is not None:
            try:
                self._state.close(keep=not nothing_kept)
            except NodeError as exc:  # keep closing; the user sees why the state was not saved
                self._emit(ev.Failed(error=exc.kind.value, message=exc.message))
        self._hash_pool.shutdown(wait=True, cancel_futures=True)
        for worker in (self._disk, self._file_hash):
            if worker is not None:
                worker.close()  # queued writes land before the file is closed
        if self._store is not None:
            self._store.close()
        if nothing_kept and unfinished is not None:
            remove_quietly(unfinished)
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        if self._done is not None and not self._done.done():
            self._done.set_exception(NodeError(ErrorKind.INTERNAL, "node closed before completion"))
            self._done.exception()  # mark retrieved

    # --- preparation -------------------------------------------------------------------------
    async def _prepare_seed(self) -> Bitfield:
        path = self.config.share_path
        assert path is not None
        meta: Metainfo
        if path.is_dir():  # a folder share (spec 8.7)
            meta, self._store, skipped = await open_shared_tree(
                path, self.config.piece_size, self._hash_pool, self.config.share_name
            )
            for item in skipped:
                self._emit(ev.Skipped(path=item.path, reason=item.reason))
        else:
            meta, store = await open_shared_file(
                path, self.config.piece_size, self._hash_pool, self.config.share_name
            )
            self._store = store
            self._vouching.verified(store)
        meta = self._faults.metainfo(meta) if self._faults else meta
        self.metainfo = meta
        self.share_id = meta.share_id
        self.output_path = path.resolve()
        self._verified = PieceFlags.full(meta.piece_count)
        return Bitfield.full(meta.piece_count)

    async def _prepare_download(self) -> Bitfield | None:
        if self.config.metainfo_only:  # nothing on disk: just ask, and check the answer
            handshake = await probe_share(
                self.config.bootstrap, timeout=self.config.connect_timeout
            )
            if self.share_id is not None and handshake.share_id != self.share_id:
                raise NodeError(ErrorKind.SHARE_MISMATCH, "the peer shares another share")
            self.share_id = handshake.share_id
            return None
        out = self.config.output_dir
        ensure_output_dir(out)
        if self.share_id is not None:
            found = find_state(out, self.share_id)
            if found is not None:
                return await self._resume(found[1])
        if not self.config.bootstrap:
            # A share ID alone: the peers come from LAN discovery, the name from the metainfo
            # (checked by _open_download when it arrives).
            return None
        # Ask the bootstrap peers first (retrying until give-up while none can serve us): its
        # handshake names the file before anything is downloaded.
        handshake = await probe_share(
            self.config.bootstrap,
            timeout=self.config.connect_timeout,
            share_id=self.share_id,
            give_up=self.config.give_up_after,
            on_wait=lambda what, delay: self._emit(ev.Waiting(waiting_for=what, retry_in=delay)),
            check=self._unusable_name,
        )
        if self.share_id is None:
            self.share_id = handshake.share_id
            found = find_state(out, self.share_id)
            if found is not None:
                return await self._resume(found[1])
        if not self.config.force:
            await refuse_if_present(out, handshake, self._hash_pool)
        final_path(out, _output_name(handshake), force=self.config.force)
        return None

    def _unusable_name(self, handshake: Handshake) -> NodeError | None:
        """A bootstrap peer naming the file unsafely is set aside, not fatal [BEH-16]."""
        try:
            safe_output_path(self.config.output_dir, _output_name(handshake))
        except UnsafeNameError as exc:
            return NodeError(ErrorKind.UNSAFE_NAME, str(exc))
        return None

    async def _resume(self, state: ResumeState) -> Bitfield:
        self._open_download(state.metainfo, resuming=True)
        meta = state.metainfo
        store = self._store
        assert store is not None
        assert self.output_path is not None and self._state is not None
        listed = set(state.verified)  # plus what the journal recorded since the state was saved
        listed |= read_journal(journal_path(self.output_path), meta.share_id, meta.piece_count)
        have = Bitfield(meta.piece_count)
        for index in await recheck(store, meta, listed, self._hash_pool):
            have.set(index)
            self._verified.add(index)
        self._resumed = len(self._verified)
        self._state.save_now()  # the journal is folded into the state file, and emptied
        if have.complete():
            # Stopped between the last piece and the rename: the swarm will treat us as a
            # seeder, so the whole-file check and the rename are ours to finish now.
            loop = asyncio.get_running_loop()
            digest = await loop.run_in_executor(self._hash_pool, whole_digest, store, meta)
            if digest != meta.file_sha1:
                raise NodeError(
                    ErrorKind.INTEGRITY,
                    "every piece verified but the whole file does not match its SHA-1"
                    if not isinstance(meta, TreeMetainfo)
                    else "every piece verified but a file does not match its SHA-1",
                )
            self._move_into_place()
        return have

    def _open_download(self, meta: Metainfo, *, resuming: bool) -> None:
        """Validate the name, refuse to clobber, and preallocate NAME.part (a folder share:
        the folder NAME.part, renamed to NAME once every file is verified)."""
        merge = isinstance(meta, TreeMetainfo) and self.config.force
        final = final_path(self.config.output_dir, meta.name, force=self.config.force)
        files = create_part(final, meta, resuming=resuming, force=self.config.force)
        assert self._disk is not None and self._file_hash is not None and self._state is not None
        self._store = store = files.store
        self._lock = files.lock
        self._download = DownloadFile(
            store=store,
            meta=meta,
            final=final,
            disk=self._disk,
            file_hash=self._file_hash,
            flush_pool=self._hash_pool,
            verified=self._verified,
            on_piece_hashed=lambda i, digest: self._drive(
                lambda sw, now: sw.piece_hashed(i, digest, now)
            ),
            on_file_hashed=lambda digest: self._drive(lambda sw, now: sw.file_hashed(digest, now)),
            on_error=self._fail,
            set_reading=self._set_disk_paused,
            merge=merge,
        )
        self.metainfo = meta
        self.share_id = meta.share_id
        self.output_path = final
        self._state.attach(files.state_file, files.journal, write_now=not resuming)

    def _set_disk_paused(self, paused: bool) -> None:
        """Stop (or resume) reading from every peer while the disk lags (TCP pushes back)."""
        for proto in self._conns.values():
            if paused:
                proto.pause_reading("disk")
            else:
                proto.resume_reading("disk")

    # --- transport callbacks -----------------------------------------------------------------
    def connection_made(self, proto: PeerProtocol, host: str, port: int) -> int:
        conn_id = self._next_conn_id
        self._next_conn_id += 1
        if self._closing or self._swarm is None:
            proto.abort()
            return conn_id
        self._conns[conn_id] = proto
        if self._download is not None and self._download.paused:
            proto.pause_reading("disk")
        if self._rate_paused:
            proto.pause_reading("rate")
        outbound = proto.outbound
        self._drive(lambda sw, now: sw.connection_opened(conn_id, host, port, outbound, now))
        return conn_id

    def data_received(self, conn_id: int, data: bytes | memoryview) -> None:
        """Bytes from a peer (a view valid only during this call; b"" is EOF)."""
        self._received(conn_id, len(data), lambda sw, now: sw.data_received(conn_id, data, now))

    def get_buffer(self, conn_id: int, size: int) -> memoryview | None:
        """Room in the connection's own receive buffer to read its next bytes into (at least
        `size` bytes); None: read into your own buffer and call data_received instead."""
        swarm = self._swarm
        if swarm is None or self._closing or conn_id not in self._conns:
            return None
        return swarm.get_buffer(conn_id, size)

    def buffer_updated(self, conn_id: int, nbytes: int) -> None:
        """`nbytes` bytes from a peer were read into the view get_buffer gave."""
        self._received(conn_id, nbytes, lambda sw, now: sw.buffer_updated(conn_id, nbytes, now))

    def _received(self, conn_id: int, nbytes: int, deliver: Callable[[Swarm, float], None]) -> None:
        if self._read_limit is not None and nbytes:
            self._limit_reading(nbytes)
        if conn_id in self._conns:
            with self._held():
                # Finished disk work first: the haves it causes then leave in the same send
                # as the requests these bytes cause (one syscall and one peer wake-up, not two)
                self._deliver_disk_results()
                self._drive(deliver)

    # --- local peer discovery (lan.py, p2pshare_core.lsd) -------------------------------------
    async def _start_lan(self) -> None:
        assert self._loop is not None
        discovery = LocalDiscovery(
            os.urandom(8), self.config.advertise_port or self.listen_port, self._loop.time()
        )
        self._lan = LanDiscovery(discovery, self._lan_found)
        self._update_lan()
        await self._lan.start()

    def _update_lan(self) -> None:
        """Announce the share once we accept connections for it; look for it until complete."""
        lan, share = self._lan, self.share_id
        if lan is None or share is None or self._loop is None:
            return
        served = [share] if self._serving else []
        wanted = [] if self._complete or self.config.seeding else [share]
        lan.discovery.set_shares(served, wanted, self._loop.time())
        lan.rearm()

    def _lan_found(self, host: str, port: int) -> None:
        """A LAN peer announced our share: a hint, dialed like any other [LSD-4]."""
        self._drive(lambda sw, now: sw.add_bootstrap(host, port, now))

    def _limit_reading(self, nbytes: int) -> None:
        """[--max-download-rate] Over budget: stop reading everywhere until it is repaid."""
        assert self._read_limit is not None and self._loop is not None
        pause = self._read_limit.spend(nbytes, self._now())
        if pause <= 0 or self._rate_paused:
            return
        self._rate_paused = True
        for proto in self._conns.values():
            proto.pause_reading("rate")
        self._loop.call_later(pause, self._resume_rate_reading)

    def _resume_rate_reading(self) -> None:
        self._rate_paused = False
        for proto in self._conns.values():
            proto.resume_reading("rate")

    def _disk_results(self) -> None:
        """A disk thread woke us: take in every finished job, then act once."""
        with self._held():
            self._deliver_disk_results()

    def _deliver_disk_results(self) -> None:
        for worker in (self._disk, self._file_hash):
            if worker is not None:
                worker.deliver()

    def connection_lost(self, conn_id: int) -> None:
        proto = self._conns.pop(conn_id, None)
        if proto is not None:
            self._drive(lambda sw, now: sw.connection_lost(conn_id, now))

    def read_block(self, block: PendingBlock, *, count: bool = True) -> bytes | None:
        """File data for a piece message (None if the file cannot be read: we stop serving).

        `count`: add it to the upload total (block_source already counted the rest of a block).
        """
        meta, store = self.metainfo, self._store
        if meta is None or store is None or store.closed:
            return None
        try:
            data = store.read(meta.piece_offset(block.index) + block.offset, block.length)
            if len(data) != block.length:  # a short piece message would garble the stream
                raise OSError("the file is shorter than when it was shared")
        except (OSError, ValueError) as exc:
            self._fail(ErrorKind.FILESYSTEM, f"cannot read {store.path}: {exc}")
            return None
        if count:
            assert self._up is not None
            self._up.add(len(data), self._now())
        return self._faults.block_data(data) if self._faults else data

    def block_source(self, block: PendingBlock) -> tuple[int, int] | None:
        """(file descriptor, offset) to send the block's data from without reading it into
        memory, counted as uploaded; None when it must go through `read_block` (faults)."""
        meta, store = self.metainfo, self._store
        if self._faults or meta is None or not isinstance(store, PieceStore) or store.closed:
            return None  # (a folder share's blocks may span files: read_block copies them)
        assert self._up is not None
        self._up.add(block.length, self._now())
        return store.fileno(), meta.piece_offset(block.index) + block.offset

    # --- the swarm loop ----------------------------------------------------------------------
    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _drive(self, call: Callable[[Swarm, float], None]) -> None:
        """Tell the swarm something, then carry out what it decided.

        A bug in the core must not leave a half-updated node running silently: it stops the
        node with an internal error instead (P2PSHARE_DEBUG=1 re-raises it with a traceback).
        """
        swarm = self._swarm
        if swarm is None or self._closing:
            return
        try:
            call(swarm, self._now())
            if self._holding:
                self._pump_due = True
            else:
                self._pump()
        except NodeError as exc:  # a user-facing failure raised inside an action keeps its kind
            self._fail(exc.kind, exc.message)
        except Exception as exc:
            if os.environ.get("P2PSHARE_DEBUG"):
                raise
            self._fail(ErrorKind.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        """Carry out the actions of several swarm calls in one pump.

        At speed, one read or one batch of disk results means dozens of swarm calls; pumping
        once after all of them sends one write per peer and re-arms the timer once.
        """
        if self._holding:
            yield
            return
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            if self._pump_due:
                self._pump_due = False
                self._drive(lambda sw, now: None)

    def _pump(self) -> None:
        """Carry out every pending action, then re-arm the single timer."""
        swarm = self._swarm
        if swarm is None or self._closing:
            return
        while (action := swarm.next_action()) is not None:
            self._do(action)
            if self._closing:
                return
        if self._unreported and not self._record_verified():
            return
        for worker in (self._disk, self._file_hash):
            if worker is not None:
                worker.flush()  # the disk jobs of these actions cross to the threads at once
        if not self._serving and swarm.summary is not None and self._server is not None:
            self._serving = True
            assert self._loop is not None
            self._track(self._loop.create_task(self._server.start_serving()))
            self._update_lan()
        # A later deadline leaves the armed timer alone: firing early is harmless (handle_timer
        # runs only what is due, then this re-arms), and most deadlines move later on every
        # read (idle timeouts count from the last byte): re-arming each time cost a cancelled
        # timer handle per read.
        deadline = swarm.get_timer()
        timer = self._timer
        if deadline is None:
            if timer is not None:
                timer.cancel()
                self._timer = None
        elif timer is None or deadline < timer.when():
            if timer is not None:
                timer.cancel()
            assert self._loop is not None
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._drive(lambda sw, now: sw.handle_timer(now))

    def _do(self, action: act.Action) -> None:
        # one dict lookup per action (several per piece), not a chain of isinstance checks
        self._action_handlers[type(action)](action)

    def _action_table(self) -> dict[type, Callable[[Any], None]]:
        """What carries out each kind of action: one handler per type in actions.py."""
        return {
            act.Send: self._on_send,
            act.SendBlock: self._on_send_block,
            act.StoreBlock: self._store_block,
            act.VerifyPiece: lambda a: self._verify_piece(a.index),
            act.VerifyFile: lambda a: self._verify_file(),
            act.Dial: lambda a: self._dial(a.host, a.port),
            act.Close: self._on_close,
            act.MetainfoReady: lambda a: self._on_metainfo(a.metainfo),
            act.PeerConnected: self._on_peer_connected,
            act.PeerDisconnected: self._on_peer_disconnected,
            act.PieceVerified: self._on_piece_verified,
            act.PieceFailed: self._on_piece_failed,
            act.PeerBanned: lambda a: self._emit(
                ev.PeerBanned(peer_id=a.peer_id.hex(), host=a.host)
            ),
            act.DownloadComplete: lambda a: self._finish_download(),
            act.FileCorrupt: lambda a: self._fail(
                ErrorKind.INTEGRITY,
                "every piece verified but the whole file does not match its SHA-1",
            ),
        }

    def _on_send(self, action: act.Send) -> None:
        proto = self._conns.get(action.conn_id)
        if proto is not None:
            proto.send(self._faults.outgoing(action.data) if self._faults else action.data)

    def _on_send_block(self, action: act.SendBlock) -> None:
        proto = self._conns.get(action.conn_id)
        refusal = self._vouching.refusal(action) if proto is not None else None
        if proto is not None and refusal is not None:
            proto.send(refusal)  # [STORE-6] changed on disk: still one reply, no data
            return
        if proto is not None and not self._faults.drop_blocks:
            proto.send_block(
                PendingBlock(action.header, action.index, action.offset, action.length)
            )

    def _on_close(self, action: act.Close) -> None:
        proto = self._conns.pop(action.conn_id, None)
        if proto is not None:
            proto.close()

    def _on_peer_connected(self, action: act.PeerConnected) -> None:
        self._peers[action.conn_id] = action.peer_id.hex()
        proto = self._conns.get(action.conn_id)
        if proto is not None:
            proto.handshake_done()
        self._emit(
            ev.PeerUp(
                conn=action.conn_id,
                peer_id=action.peer_id.hex(),
                host=action.host,
                port=action.port,
                outbound=action.outbound,
                extensions=extension_names(action.capabilities),
            )
        )

    def _on_peer_disconnected(self, action: act.PeerDisconnected) -> None:
        self._peers.pop(action.conn_id, None)
        peer = action.peer_id.hex() if action.peer_id else ""
        self._emit(ev.PeerDown(conn=action.conn_id, peer_id=peer, reason=action.reason))

    # --- actions -----------------------------------------------------------------------------
    def _on_piece_verified(self, action: act.PieceVerified) -> None:
        self._verified.add(action.index)
        if self._files is not None:
            for index in self._files.piece_verified(action.index):
                entry = self._files.meta.entries[index]
                self._emit(ev.FileDone(path=entry.path, size=entry.size))
        self._give_up.piece_verified(action.index, self._now())
        if self._download is not None:
            self._download.piece_verified(action.index)
        if self._state is not None:
            self._state.piece_verified(action.index)  # flushed before anyone hears: STORE-4
        peers = tuple(p.hex() for p in action.from_peers)
        self._unreported.append(ev.PieceDone(index=action.index, peers=peers))

    def _on_piece_failed(self, action: act.PieceFailed) -> None:
        """Reported as it happens [BEH-15]: a stalled download is never silent."""
        self._give_up.piece_failed(action.index)
        self._emit(
            ev.PieceBad(
                index=action.index,
                peers=tuple(p.hex() for p in action.peers),
                failed=self._give_up.failing,
                give_up_in=self._give_up.give_up_in(self._now()),
            )
        )

    def _on_metainfo(self, meta: Metainfo) -> None:
        if self._store is not None and self.metainfo is not None:
            return  # already prepared (resume, or seeding)
        if self.config.metainfo_only:  # verified against the share ID by the core: done
            self.metainfo = meta
            self.share_id = meta.share_id
            self._emit_metadata()
            if self._done is not None and not self._done.done():
                self._done.set_result(None)
            return
        try:
            self._open_download(meta, resuming=False)
        except NodeError as exc:
            self._fail(exc.kind, exc.message)
            return
        self._emit_metadata()

    def _store_block(self, action: act.StoreBlock) -> None:
        download = self._download
        if download is None:
            return  # (a late duplicate block after completion is moot)
        download.store_block(action.index, action.offset, action.data)
        assert self._down is not None
        self._down.add(len(action.data), self._now())

    def _verify_piece(self, index: int) -> None:
        if self._download is not None:  # (None: metainfo_only, about to close)
            self._download.verify_piece(index)

    def _verify_file(self) -> None:
        if self._download is not None:
            self._download.verify_file()

    def _finish_download(self) -> None:
        """Every piece and the whole file verified: move it into place and keep seeding."""
        try:
            self._move_into_place()
        except NodeError as exc:
            self._fail(exc.kind, exc.message)
            return
        assert self._down is not None
        self._mark_complete(fetched=self._down.total)

    def _move_into_place(self) -> None:
        """Rename NAME.part to NAME, drop the state file, serve the file read-only."""
        download = self._download
        if download is None:
            return
        self._download = None
        self._store = store = download.move_into_place()
        if isinstance(store, PieceStore):  # (a folder share is not watched for changes)
            self._vouching.verified(store)
        if self._state is not None:
            self._state.remove()

    def _mark_complete(self, fetched: int) -> None:
        if self._complete:
            return
        self._complete = True
        self._update_lan()
        meta = self.metainfo
        assert meta is not None
        self._emit_progress()
        self._emit(
            ev.Completed(
                path=str(self.output_path),
                size=meta.file_size,
                sha1="" if isinstance(meta, TreeMetainfo) else meta.file_sha1.hex(),
                elapsed=self._now() - self._t0,
                fetched=fetched,
                files=len(meta.entries) if isinstance(meta, TreeMetainfo) else 0,
                share_id=meta.share_id.hex(),
                folder=isinstance(meta, TreeMetainfo),
            )
        )
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _dial(self, host: str, port: int) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._dial_task(host, port))
        self._track(task)

    async def _dial_task(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: PeerProtocol(self, outbound=True, dial_host=host, dial_port=port),
                    host,
                    port,
                ),
                self.config.connect_timeout,
            )
        except (TimeoutError, OSError):
            self._drive(lambda sw, now: sw.dial_failed(host, port, now))

    def _track(self, future: asyncio.Future[Any]) -> None:
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)

    # --- failure, events, state --------------------------------------------------------------
    def _fail(self, kind: ErrorKind, message: str) -> None:
        """A fatal, user-visible failure: report it and stop the node."""
        if self._closing or self._close_started:
            return
        error = NodeError(kind, message)
        self._emit(ev.Failed(error=kind.value, message=message))
        for fut in (self._done, self._closed):
            if fut is not None and not fut.done():
                fut.set_exception(error)
                fut.exception()  # retrieved: the waiter re-raises it
        assert self._loop is not None
        self._track(self._loop.create_task(self.close()))

    def _record_verified(self) -> bool:
        """Write the journal records of newly verified pieces, then report them [STORE-4]:
        once per batch of actions, and before any other event, so that what a user (or a
        peer, whose frames leave at the end of the loop iteration) hears of is on disk."""
        unreported, self._unreported = self._unreported, []
        if self._state is not None and unreported:
            try:
                self._state.record()
            except OSError as exc:
                self._fail(ErrorKind.FILESYSTEM, f"cannot record verified pieces: {exc}")
                return False
        for event in unreported:
            self._emit(event)
        return True

    def _emit(self, event: ev.NodeEvent) -> None:
        if self._unreported and not self._record_verified():
            return
        if self._loop is not None:
            object.__setattr__(event, "time", self._loop.time() - self._t0)
        for listener in list(self._listeners):
            listener(event)

    def _emit_metadata(self) -> None:
        meta = self.metainfo
        assert meta is not None
        if isinstance(meta, TreeMetainfo) and self._files is None:
            self._files = FileTracker(meta, self._verified)
        self._emit(
            ev.Metadata(
                share_id=meta.share_id.hex(),
                name=meta.name,
                size=meta.file_size,
                piece_size=meta.piece_size,
                pieces=meta.piece_count,
                have=len(self._verified),
                path=str(self.output_path),
                files=len(meta.entries) if isinstance(meta, TreeMetainfo) else 0,
                folder=isinstance(meta, TreeMetainfo),
            )
        )

    def _emit_progress(self) -> None:
        assert self._down is not None and self._up is not None
        now = self._now()
        self._emit(
            progress_event(
                meta=self.metainfo,
                verified=self._verified,
                down=self._down,
                up=self._up,
                peers=self._peers.values(),
                now=now,
                elapsed=now - self._t0,
                files=self._files,
            )
        )

    def _tick(self) -> None:
        if self._closing or self._loop is None:
            return
        self._emit_progress()
        store = self._store  # (a folder share is not watched: only a file is)
        self._vouching.watch(store if isinstance(store, PieceStore) else None, self.metainfo)
        verdict = self._give_up.check(
            self._now(), complete=self._complete, has_peers=bool(self._peers)
        )
        if verdict is not None:
            self._fail(*verdict)
        if not self._closing:
            self._ticker = self._loop.call_later(self.config.progress_interval, self._tick)

    def _state_snapshot(self) -> ResumeState | None:
        """What the resume state file says now (None: nothing to say yet)."""
        if self.metainfo is None:
            return None
        return ResumeState(
            metainfo=self.metainfo, link=self.share_link or "", verified=self._verified.copy()
        )


def _output_name(handshake: Handshake) -> str:
    """The name a download lands under: a folder share's root name (without its '/')."""
    summary = handshake.summary
    return summary.name[:-1] if summary.is_tree else summary.name


def _loopback_only(host: str | None) -> bool:
    """Listening on a loopback address only (127.0.0.1, ::1, localhost)."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
