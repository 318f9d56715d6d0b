"""The asyncio node: sockets, one timer and the disk around the sans-IO Swarm.

Every protocol decision (whom to dial, what to request, when to time out, whom to ban) is the
core's. This module only carries bytes in and actions out: after each call into the swarm it
drains `next_action()` and re-arms a single `loop.call_at` from `get_timer()` (aioquic style).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from p2pshare_core import actions as act
from p2pshare_core.bitfield import Bitfield
from p2pshare_core.config import SwarmConfig
from p2pshare_core.link import ShareLink
from p2pshare_core.metainfo import Metainfo
from p2pshare_core.rate import RateMeter
from p2pshare_core.swarm import Swarm

from p2pshare_node import events as ev
from p2pshare_node.config import NodeConfig
from p2pshare_node.diskworker import DiskWorker
from p2pshare_node.dropbehind import DropBehind
from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.faults import Faults
from p2pshare_node.hashing import DownloadHasher
from p2pshare_node.paths import UnsafeNameError, part_path, safe_output_path, state_path
from p2pshare_node.probe import probe_share
from p2pshare_node.ranges import PieceFlags
from p2pshare_node.resume import ResumeState, find_state, save_state
from p2pshare_node.sharing import build_metainfo
from p2pshare_node.storage import PieceStore
from p2pshare_node.transport import PeerProtocol, PendingBlock

Listener = Callable[[ev.NodeEvent], None]
DISK_BACKLOG_MAX = 4 * 1024 * 1024  # blocks waiting for the disk before reading pauses
WRITEBACK_STEP = 32 * 1024 * 1024  # flush (and drop behind) the download in steps of this size
FILE_HASH_STEP = 4 * 1024 * 1024  # the file's SHA-1 advances over the verified prefix in steps


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
        self._server: asyncio.Server | None = None
        self._serving = False
        self._conns: dict[int, PeerProtocol] = {}
        self._next_conn_id = 1
        self._timer: asyncio.TimerHandle | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._store: PieceStore | None = None
        self._hasher: DownloadHasher | None = None  # disk-thread hashing of a download
        self._drop_behind: DropBehind | None = None  # a download's flushes and cache drops
        self._verified = PieceFlags()
        self._file_hashed_pieces = 0  # leading verified pieces handed to the file hash
        self._unsynced = 0  # bytes verified since the last background flush was started
        self._syncing: Future[None] | None = None
        self._resumed = 0
        self._peers: dict[int, str] = {}  # conn_id -> peer id hex (connected peers)
        self._state_file: Path | None = None
        self._state_dirty = False
        self._state_written = 0.0
        self._state_handle: asyncio.TimerHandle | None = None
        self._hash_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="p2pshare-hash")
        # Writes and piece hashes run in order on one thread (see diskworker.py); the file's
        # SHA-1 on a second one, over pieces already verified, so the two hashes run in parallel.
        self._disk: DiskWorker | None = None
        self._file_hash: DiskWorker | None = None
        self._disk_backlog = 0  # bytes handed to the disk thread and not yet written
        self._disk_paused = False
        self._holding = False  # inside `_held`: swarm calls are pumped once, at the end
        self._pump_due = False
        self._state_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2pshare-state")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self._done: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._complete = False
        self._closing = False
        self._close_started = False
        self._down: RateMeter | None = None
        self._alone_since: float | None = None
        self._up: RateMeter | None = None
        self._action_handlers = self._action_table()

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
        host = self.config.advertise_host or self.config.listen_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return str(ShareLink(host, self.listen_port, self.share_id))

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
        self._down = RateMeter(self._t0)
        self._up = RateMeter(self._t0)
        have: Bitfield | None = None
        if self.config.seeding:
            have = await self._prepare_seed()
        else:
            have = await self._prepare_download()
        await self._listen()
        config = SwarmConfig(max_upload_rate=self.config.max_upload_rate)
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
        for handle in (self._timer, self._ticker, self._state_handle):
            if handle is not None:
                handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        for proto in list(self._conns.values()):
            proto.abort()
        lost = [p.lost for p in protos if p.lost is not None and not p.lost.done()]
        if lost:  # let the goodbye frames leave before the loop stops
            await asyncio.wait(lost, timeout=1.0)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        try:
            self._flush_state(sync=True)
        except NodeError as exc:  # keep closing; the user sees why the state was not saved
            self._emit(ev.Failed(error=exc.kind.value, message=exc.message))
        self._state_pool.shutdown(wait=True)
        self._hash_pool.shutdown(wait=True, cancel_futures=True)
        for worker in (self._disk, self._file_hash):
            if worker is not None:
                worker.close()  # queued writes land before the file is closed
        if self._store is not None:
            self._store.close()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        if self._done is not None and not self._done.done():
            self._done.set_exception(NodeError(ErrorKind.INTERNAL, "node closed before completion"))
            self._done.exception()  # mark retrieved

    # --- preparation -------------------------------------------------------------------------
    async def _prepare_seed(self) -> Bitfield:
        path = self.config.share_path
        assert path is not None
        loop = asyncio.get_running_loop()
        if not path.is_file():
            raise NodeError(ErrorKind.FILESYSTEM, f"{path}: no such file")
        try:
            meta = await loop.run_in_executor(
                self._hash_pool, build_metainfo, path, self.config.piece_size
            )
            self._store = PieceStore.open_readonly(path)
        except OSError as exc:
            raise NodeError(ErrorKind.FILESYSTEM, f"{path}: {exc.strerror or exc}") from None
        except ValueError as exc:  # bad piece size, file too large, unsafe name
            raise NodeError(ErrorKind.FILESYSTEM, f"cannot share {path}: {exc}") from None
        except Exception as exc:  # the core's LocalProtocolError (name not portable)
            raise NodeError(ErrorKind.FILESYSTEM, f"cannot share {path}: {exc}") from None
        meta = self._faults.metainfo(meta) if self._faults else meta
        self.metainfo = meta
        self.share_id = meta.share_id
        self.output_path = path.resolve()
        self._verified = PieceFlags.full(meta.piece_count)
        return Bitfield.full(meta.piece_count)

    async def _prepare_download(self) -> Bitfield | None:
        out = self.config.output_dir
        try:  # like `mkdir -p`: a new user's `-o downloads` should just work
            out.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise NodeError(ErrorKind.FILESYSTEM, f"{out}: not a directory") from None
        except OSError as exc:
            raise NodeError(ErrorKind.FILESYSTEM, f"cannot create {out}: {exc.strerror}") from None
        if not os.access(out, os.W_OK | os.X_OK):
            raise NodeError(ErrorKind.FILESYSTEM, f"{out}: directory is not writable")
        if self.share_id is not None:
            found = find_state(out, self.share_id)
            if found is not None:
                return await self._resume(found[1])
        # Ask the bootstrap peer first: a clear "unreachable" or "share mismatch" now beats
        # retrying forever, and its handshake names the file before anything is downloaded.
        handshake = await probe_share(self.config.bootstrap, timeout=self.config.connect_timeout)
        if self.share_id is not None and handshake.share_id != self.share_id:
            raise NodeError(
                ErrorKind.SHARE_MISMATCH,
                f"the peer shares {handshake.share_id.hex()[:16]}..., "
                f"not the link's {self.share_id.hex()[:16]}...",
            )
        if self.share_id is None:
            self.share_id = handshake.share_id
            found = find_state(out, self.share_id)
            if found is not None:
                return await self._resume(found[1])
        try:
            final = safe_output_path(out, handshake.name)
        except UnsafeNameError as exc:
            raise NodeError(ErrorKind.UNSAFE_NAME, str(exc)) from None
        if final.exists() and not self.config.force:
            raise NodeError(
                ErrorKind.OUTPUT_EXISTS, f"{final} already exists (use --force to overwrite it)"
            )
        return None

    async def _resume(self, state: ResumeState) -> Bitfield:
        self._open_download(state.metainfo, resuming=True)
        have = await self._recheck(state)
        if have.complete():
            # Stopped between the last piece and the rename: the swarm will treat us as a
            # seeder, so the whole-file check and the rename are ours to finish now.
            store = self._store
            assert store is not None
            loop = asyncio.get_running_loop()
            digest = await loop.run_in_executor(self._hash_pool, store.sha1_file)
            if digest != state.metainfo.file_sha1:
                raise NodeError(
                    ErrorKind.INTEGRITY,
                    "every piece verified but the whole file does not match its SHA-1",
                )
            self._move_into_place()
        return have

    async def _recheck(self, state: ResumeState) -> Bitfield:
        """Re-hash the pieces the state file lists: only what is really on disk counts."""
        meta = state.metainfo
        store = self._store
        assert store is not None
        loop = asyncio.get_running_loop()
        have = Bitfield(meta.piece_count)

        def check(index: int) -> bool:
            digest = store.sha256_range(meta.piece_offset(index), meta.piece_length(index))
            return digest == meta.piece_hashes[index]

        indices = sorted(state.verified)
        results = await asyncio.gather(
            *(loop.run_in_executor(self._hash_pool, check, i) for i in indices)
        )
        for index, ok in zip(indices, results, strict=True):
            if ok:
                have.set(index)
                self._verified.add(index)
        self._resumed = len(self._verified)
        return have

    def _open_download(self, meta: Metainfo, *, resuming: bool) -> None:
        """Validate the name, refuse to clobber, and preallocate NAME.part."""
        out = self.config.output_dir
        try:
            final = safe_output_path(out, meta.name)
        except UnsafeNameError as exc:
            raise NodeError(ErrorKind.UNSAFE_NAME, str(exc)) from None
        if final.exists() and not self.config.force:
            raise NodeError(
                ErrorKind.OUTPUT_EXISTS, f"{final} already exists (use --force to overwrite it)"
            )
        part = part_path(final)
        state_file = state_path(final)
        if not resuming and state_file.exists() and not self.config.force:
            raise NodeError(
                ErrorKind.OUTPUT_EXISTS,
                f"{state_file} belongs to another download of the same name "
                "(use --force to replace it)",
            )
        try:
            self._store = PieceStore.create(part, meta.file_size)
        except OSError as exc:
            kind = ErrorKind.FILESYSTEM
            raise NodeError(kind, f"cannot create {part}: {exc.strerror or exc}") from None
        self._hasher = DownloadHasher(self._store, meta.piece_size)
        self._drop_behind = DropBehind(self._store, self._hasher.file_hashed_upto)
        self._file_hashed_pieces = 0
        self.metainfo = meta
        self.share_id = meta.share_id
        self.output_path = final
        self._state_file = state_file
        if not resuming:
            self._state_dirty = True
            self._flush_state(sync=True)

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: PeerProtocol(self, outbound=False),
                self.config.listen_host,
                self.config.listen_port,
                start_serving=False,  # [HS-17]: accept only once the share's summary is known
            )
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
                raise NodeError(
                    ErrorKind.PORT_IN_USE,
                    f"port {self.config.listen_port} on {self.config.listen_host} is in use",
                ) from None
            raise NodeError(
                ErrorKind.PORT_IN_USE,
                f"cannot listen on {self.config.listen_host}:{self.config.listen_port}: "
                f"{exc.strerror or exc}",
            ) from None
        self.listen_port = int(self._server.sockets[0].getsockname()[1])

    # --- transport callbacks -----------------------------------------------------------------
    def connection_made(self, proto: PeerProtocol, host: str, port: int) -> int:
        conn_id = self._next_conn_id
        self._next_conn_id += 1
        if self._closing or self._swarm is None:
            proto.abort()
            return conn_id
        self._conns[conn_id] = proto
        if self._disk_paused:
            proto.pause_reading("disk")
        outbound = proto.outbound
        self._drive(lambda sw, now: sw.connection_opened(conn_id, host, port, outbound, now))
        return conn_id

    def data_received(self, conn_id: int, data: bytes | memoryview) -> None:
        """Bytes from a peer (a view valid only during this call; b"" is EOF)."""
        if conn_id in self._conns:
            with self._held():
                # Finished disk work first: the haves it causes then leave in the same send
                # as the requests these bytes cause (one syscall and one peer wake-up, not two)
                self._deliver_disk_results()
                self._drive(lambda sw, now: sw.data_received(conn_id, data, now))

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
        if self._faults or meta is None or store is None or store.closed:
            return None
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
        for worker in (self._disk, self._file_hash):
            if worker is not None:
                worker.flush()  # the disk jobs of these actions cross to the threads at once
        if not self._serving and swarm.summary is not None and self._server is not None:
            self._serving = True
            assert self._loop is not None
            self._track(self._loop.create_task(self._server.start_serving()))
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
            act.PieceFailed: lambda a: self._emit(
                ev.PieceBad(index=a.index, peers=tuple(p.hex() for p in a.peers))
            ),
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
        self._emit(
            ev.PeerUp(
                conn=action.conn_id,
                peer_id=action.peer_id.hex(),
                host=action.host,
                port=action.port,
                outbound=action.outbound,
            )
        )

    def _on_peer_disconnected(self, action: act.PeerDisconnected) -> None:
        self._peers.pop(action.conn_id, None)
        peer = action.peer_id.hex() if action.peer_id else ""
        self._emit(ev.PeerDown(conn=action.conn_id, peer_id=peer, reason=action.reason))

    def _on_piece_verified(self, action: act.PieceVerified) -> None:
        self._verified.add(action.index)
        self._extend_file_hash()
        self._writeback(action.index)
        self._state_changed()
        peers = tuple(p.hex() for p in action.from_peers)
        self._emit(ev.PieceDone(index=action.index, peers=peers))

    # --- actions -----------------------------------------------------------------------------
    def _on_metainfo(self, meta: Metainfo) -> None:
        if self._store is not None and self.metainfo is not None:
            return  # already prepared (resume, or seeding)
        try:
            self._open_download(meta, resuming=False)
        except NodeError as exc:
            self._fail(exc.kind, exc.message)
            return
        self._emit_metadata()

    def _store_block(self, action: act.StoreBlock) -> None:
        store, disk, hasher = self._store, self._disk, self._hasher
        if store is None or not store.writable or disk is None or hasher is None:
            return
        size = len(action.data)

        def written(_: object, error: BaseException | None) -> None:
            self._disk_backlog -= size
            if self._disk_paused and self._disk_backlog < DISK_BACKLOG_MAX // 2:
                self._disk_paused = False
                for proto in self._conns.values():
                    proto.resume_reading("disk")
            if error is None or store.closed:
                return  # (a late duplicate block after completion is moot)
            if isinstance(error, OSError) and error.errno == errno.ENOSPC:
                self._fail(ErrorKind.FILESYSTEM, f"disk full while writing {store.path}")
            else:
                self._fail(ErrorKind.FILESYSTEM, f"cannot write {store.path}: {error}")

        disk.submit(hasher.store_block, action.index, action.offset, action.data, done=written)
        self._disk_backlog += size
        if self._disk_backlog > DISK_BACKLOG_MAX and not self._disk_paused:
            self._disk_paused = True  # memory stays bounded when the disk is slower than the net
            for proto in self._conns.values():
                proto.pause_reading("disk")
        assert self._down is not None
        self._down.add(size, self._now())

    def _verify_piece(self, index: int) -> None:
        meta, hasher, disk = self.metainfo, self._hasher, self._disk
        assert meta is not None and hasher is not None and disk is not None

        def hashed(digest: bytes, error: BaseException | None) -> None:
            if error is not None:
                self._fail(ErrorKind.FILESYSTEM, f"cannot read back piece {index}: {error}")
                return
            self._drive(lambda sw, now: sw.piece_hashed(index, digest, now))

        disk.submit(hasher.piece_digest, index, meta.piece_length(index), done=hashed)

    def _extend_file_hash(self) -> None:
        """Let the file's SHA-1 run over the verified prefix now, not in one pass at the end."""
        meta, hasher, worker = self.metainfo, self._hasher, self._file_hash
        if meta is None or hasher is None or worker is None:
            return
        start = self._file_hashed_pieces
        count = self._verified.first_missing(start)  # (per piece: C speed, not a rescan)
        if count > start:
            end = min(count * meta.piece_size, meta.file_size)
            if end - start * meta.piece_size < FILE_HASH_STEP and end < meta.file_size:
                return  # in steps: one job per few MiB, not one per piece
            self._file_hashed_pieces = count
            worker.submit(hasher.extend_file_hash, end)

    def _writeback(self, index: int) -> None:
        """Flush the download to disk in the background as it goes, and drop behind it.

        The final fsync before the rename then finds little left to write, instead of the
        whole file, which would hold up completion (and the event loop) for a second or more;
        the page cache keeps only the recent part of the download (see dropbehind.py).
        """
        meta, store, drop = self.metainfo, self._store, self._drop_behind
        if meta is None or store is None or not store.writable or drop is None:
            return
        self._unsynced += meta.piece_length(index)
        if self._unsynced < WRITEBACK_STEP or (self._syncing and not self._syncing.done()):
            return
        self._unsynced = 0
        self._syncing = self._hash_pool.submit(drop.flush)

    def _verify_file(self) -> None:
        store, worker, hasher = self._store, self._file_hash, self._hasher
        assert store is not None and worker is not None

        def hashed(digest: bytes, error: BaseException | None) -> None:
            if error is not None:
                self._fail(ErrorKind.FILESYSTEM, f"cannot read back the file: {error}")
                return
            self._drive(lambda sw, now: sw.file_hashed(digest, now))

        # (after every extend_file_hash: the same FIFO thread)
        worker.submit(hasher.file_digest if hasher is not None else store.sha1_file, done=hashed)

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
        """Rename NAME.part to NAME, drop the state file, reopen the file read-only."""
        store, final = self._store, self.output_path
        if store is None or final is None or not store.writable:
            return
        if self._syncing is not None:
            self._syncing.result()  # (never raises) the file is not closed under its flush
        try:
            store.sync()
            store.close()
            self._hasher = None
            self._drop_behind = None
            os.replace(store.path, final)
            self._store = PieceStore.open_readonly(final)
        except OSError as exc:
            raise NodeError(
                ErrorKind.FILESYSTEM, f"cannot move the download into place: {exc}"
            ) from None
        if self._state_file is not None:
            with contextlib.suppress(OSError):
                self._state_file.unlink()
            self._state_file = None
            self._state_dirty = False

    def _mark_complete(self, fetched: int) -> None:
        if self._complete:
            return
        self._complete = True
        meta = self.metainfo
        assert meta is not None
        self._emit_progress()
        self._emit(
            ev.Completed(
                path=str(self.output_path),
                size=meta.file_size,
                sha1=meta.file_sha1.hex(),
                elapsed=self._now() - self._t0,
                fetched=fetched,
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

    def _emit(self, event: ev.NodeEvent) -> None:
        if self._loop is not None:
            object.__setattr__(event, "time", self._loop.time() - self._t0)
        for listener in list(self._listeners):
            listener(event)

    def _emit_metadata(self) -> None:
        meta = self.metainfo
        assert meta is not None
        self._emit(
            ev.Metadata(
                share_id=meta.share_id.hex(),
                name=meta.name,
                size=meta.file_size,
                piece_size=meta.piece_size,
                pieces=meta.piece_count,
                have=len(self._verified),
                path=str(self.output_path),
            )
        )

    def _emit_progress(self) -> None:
        meta = self.metainfo
        now = self._now()
        assert self._down is not None and self._up is not None
        done = 0
        if meta is not None:
            done = len(self._verified) * meta.piece_size
            last = meta.piece_count - 1
            if last in self._verified:
                done -= meta.piece_size - meta.piece_length(last)
        elapsed = max(now - self._t0, 1e-6)
        self._emit(
            ev.Progress(
                done=done,
                total=meta.file_size if meta else 0,
                pieces_done=len(self._verified),
                pieces=meta.piece_count if meta else 0,
                down_rate=self._down.rate(now),
                down_avg=self._down.total / elapsed,
                up_rate=self._up.rate(now),
                uploaded=self._up.total,
                peers=tuple(sorted(self._peers.values())),
            )
        )

    def _tick(self) -> None:
        if self._closing or self._loop is None:
            return
        self._emit_progress()
        self._check_alone()
        if not self._closing:
            self._ticker = self._loop.call_later(self.config.progress_interval, self._tick)

    def _check_alone(self) -> None:
        """Stop an unfinished download that has had no peer for give_up_after seconds."""
        limit = self.config.give_up_after
        if self._complete or self._peers or limit is None:
            self._alone_since = None
            return
        now = self._now()
        if self._alone_since is None:
            self._alone_since = now
        elif now - self._alone_since >= limit:
            self._fail(
                ErrorKind.UNREACHABLE,
                f"no peer for {limit:.0f}s: every known peer is gone or refuses us",
            )

    def _state_changed(self) -> None:
        if self._state_file is None:
            return
        self._state_dirty = True
        if self._state_handle is not None or self._loop is None:
            return
        wait = self._state_written + self.config.state_interval - self._now()
        self._state_handle = self._loop.call_later(max(0.0, wait), self._flush_state)

    def _flush_state(self, sync: bool = False) -> None:
        """Write the resume state (in a thread normally; inline at start and on close)."""
        self._state_handle = None
        if not self._state_dirty or self._state_file is None or self.metainfo is None:
            return
        self._state_dirty = False
        state = ResumeState(
            metainfo=self.metainfo,
            link=self.share_link or "",
            verified=self._verified.copy(),
        )
        path = self._state_file
        if self._loop is not None:
            self._state_written = self._loop.time()
        if sync:
            try:
                save_state(path, state)
            except OSError as exc:
                raise NodeError(ErrorKind.FILESYSTEM, f"cannot write {path}: {exc}") from None
            return
        future = self._state_pool.submit(save_state, path, state)

        def done(fut: object) -> None:
            exc = future.exception()
            if exc is not None and self._loop is not None and not self._closing:
                self._loop.call_soon_threadsafe(
                    self._fail, ErrorKind.FILESYSTEM, f"cannot write {path}: {exc}"
                )

        future.add_done_callback(done)
