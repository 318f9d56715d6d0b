"""A scripted swarm of fake peers that observe a downloader.

The entry peer (the one in the printed link) serves everything (its very first block corrupt,
to see that nothing is announced before it is verified) and lists the others by PEX: a
peer serving corrupt data, one rejecting every request, one that goes silent, a good mirror
(somewhere to re-fetch the entry peer's spoiled block), a watcher that has nothing (so every
piece the downloader verifies must be announced to it, MSG-2, while the peers that announced a
piece need not hear of it, MSG-22), and one whose peer ID is higher than any random ID, which
the downloader must never dial (DUP-1). Every
connection runs the core Connection as the model of the downloader, so any frame it forbids is
recorded as a violation with its requirement ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from p2pshare_core import codec
from p2pshare_core import constants as C
from p2pshare_core.bitfield import Bitfield as PieceBits
from p2pshare_core.connection import Connection
from p2pshare_core.errors import LocalProtocolError, RemoteProtocolError
from p2pshare_core.events import (
    NEED_DATA,
    Bitfield,
    ConnectionClosed,
    Error,
    Handshake,
    Have,
    Interested,
    MetainfoData,
    MetainfoReject,
    MetainfoRequest,
    PeerEntry,
    Peers,
    Piece,
    ReceivedEvent,
    Reject,
    Request,
    Unchoke,
)
from p2pshare_core.metainfo import Metainfo, chunk_bounds, chunk_count
from p2pshare_core.states import Role

from conformance import craft
from conformance.serve.earlydial import EarlyDialer
from conformance.serve.trees import HOSTILE_TREES, hostile_tree

ROLES = ("entry", "corrupt", "reject", "silent", "mirror", "watcher", "high")
WATCHERS = ("entry", "watcher")
"""Peers whose announcements from the downloader are watched (and who fetch pieces back): the
entry peer has every piece, so a downloader may omit its haves there (MSG-22); the watcher has
none, so every verified piece must reach it (MSG-2)."""
SCENARIOS = (
    "swarm",
    "wrong-link",
    "unsafe-name",
    "tree",
    "request-limit",
    "bad-metainfo",
    "late-replies",
    "early-dial",
    *HOSTILE_TREES,
)
"""swarm: download from the fake swarm; wrong-link: the link's share ID is not the one served;
unsafe-name: a bare HOST:PORT link, and the entry peer's handshake names "../escape.bin" (the
downloader learns the share from that handshake, so only its own HS-10 check can refuse it);
tree: the swarm serves a directory tree (spec 8.7); tree-*: the entry peer serves a hostile
tree metainfo (trees.py) that hashes to the link's share ID, which the downloader must refuse;
request-limit: a share of twice MAX_PEER_REQUESTS pieces whose only peer, the entry, unchokes
and then answers no block request, so requests pile up until the downloader's limit (MSG-5);
bad-metainfo: the entry peer serves a metainfo whose piece hashes are spoiled (it still
decodes, its SHA-256 is not the share ID) and lists no other peer (META-14); late-replies:
the entry peer, the only one, answers every block request a second after the downloader's
REQUEST_TIMEOUT (told with request_timeout), so the downloader has given up on each (MSG-21);
early-dial: the entry peer sends its handshake EARLY_DELAY late, while a peer dials the port
the downloader listens on (told with downloader_port), before it can know the share (HS-19)."""
REFUSALS = ("wrong-link", "unsafe-name", *HOSTILE_TREES)
"""Scenarios that end when the downloader hangs up on the entry peer."""

REFUSAL_SETTLE = 1.0  # refusal scenarios: seconds with every entry connection closed
REQUEST_LIMIT_SETTLE = 1.5  # seconds without a new request: the downloader has stopped asking
LATE_BY = 1.0  # late-replies: seconds after the downloader's REQUEST_TIMEOUT a reply leaves
LATE_SETTLE = 1.0  # late-replies: seconds to watch the downloader after the first late reply
QUIET = ("request-limit", "late-replies", "bad-metainfo", "early-dial")
EARLY_DELAY = 1.0  # early-dial: how late the entry peer's handshake leaves
"""Scenarios whose entry peer lists no other peer (so the downloader has only it to ask)."""


def scenario_size(scenario: str, size: int, piece_size: int) -> int:
    """The share size a scenario needs: request-limit needs more blocks than MAX_PEER_REQUESTS
    (a block is at most a piece), whatever size was asked for."""
    if scenario == "request-limit":
        return max(size, 2 * C.MAX_PEER_REQUESTS * piece_size)
    return size


UNSAFE_NAME = b"../escape.bin"


@dataclass
class GeneratedShare:
    data: bytes
    meta: Metainfo

    @property
    def blob(self) -> bytes:
        return self.meta.encode()


def generate_share(size: int, piece_size: int, seed: int) -> GeneratedShare:
    data = random.Random(seed).randbytes(size)
    hashes = tuple(
        hashlib.sha256(data[i : i + piece_size]).digest() for i in range(0, size, piece_size)
    )
    meta = Metainfo("conformance.bin", size, piece_size, hashlib.sha1(data).digest(), hashes)
    return GeneratedShare(data, meta)


@dataclass
class ConnLog:
    """What one downloader connection to one fake peer did."""

    role: str
    opened: float
    handshake: Handshake | None = None
    bits: bytes | None = None
    requests: list[tuple[float, tuple[int, int, int]]] = field(default_factory=list)
    haves: list[tuple[float, int]] = field(default_factory=list)
    served: list[tuple[float, int, bool]] = field(default_factory=list)  # time, index, good
    violations: list[tuple[str, str]] = field(default_factory=list)  # requirement, reason
    their_error: Error | None = None
    fetched_back: list[tuple[int, bool]] = field(default_factory=list)  # index, hash ok
    max_outstanding: int = 0
    asked: int = 0  # requests and metainfo requests received
    bad_metainfo_served: int = 0  # chunks of a spoiled metainfo sent (bad-metainfo scenario)
    late_sent: list[float] = field(default_factory=list)  # when late replies left
    closed: bool = False

    def claimed(self, piece_count: int) -> list[int]:
        """The pieces the downloader's bitfield claimed (none before it came); the core
        Connection has already refused a bitfield of the wrong length or with spare bits."""
        return list(PieceBits.from_bytes(piece_count, self.bits)) if self.bits else []


@dataclass
class Observation:
    """Everything the fake swarm saw; the serve cases judge it."""

    share: GeneratedShare
    peer_ids: dict[str, bytes]
    scenario: str = "swarm"
    ports: dict[str, int] = field(default_factory=dict)
    conns: list[ConnLog] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    completed_at: float | None = None
    early_dial: str | None = None  # early-dial: what came first on the early connection
    early_refused: int = 0  # early-dial: dials the downloader refused (not listening yet)

    def by_role(self, role: str) -> list[ConnLog]:
        return [c for c in self.conns if c.role == role]

    def haves(self) -> set[int]:
        return {i for c in self.conns for _, i in c.haves}

    def announced_to(self, role: str) -> set[int]:
        """Pieces the downloader announced to the `role` peer (bitfield or have)."""
        n = self.share.meta.piece_count
        return {i for c in self.by_role(role) for i in [*(i for _, i in c.haves), *c.claimed(n)]}

    def completed(self) -> bool:
        """Every piece announced to the watcher, or to the entry peer (a downloader that sends
        haves to peers that have the piece too, as MSG-22 allows)."""
        n = self.share.meta.piece_count
        return any(len(self.announced_to(role)) >= n for role in WATCHERS)


class FakeSwarm:
    """Runs the fake peers on an event loop in a background thread."""

    def __init__(
        self,
        share: GeneratedShare,
        host: str = "127.0.0.1",
        entry_port: int = 0,
        scenario: str = "swarm",
        request_timeout: float = 30.0,
        downloader_port: int | None = None,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
        self.scenario = scenario
        self.request_timeout = request_timeout  # the downloader's, for late-replies
        self.share = share
        self.host = host
        self.entry_port = entry_port
        ids = {
            "entry": b"\x00" * 19 + b"\x01",
            "corrupt": b"\x00" * 19 + b"\x02",
            "reject": b"\x00" * 19 + b"\x03",
            "silent": b"\x00" * 19 + b"\x04",
            "mirror": b"\x00" * 19 + b"\x05",
            "watcher": b"\x00" * 19 + b"\x06",
            "high": b"\xff" * 20,
        }
        self.obs = Observation(share=share, peer_ids=ids, scenario=scenario)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._fetches = 0
        self._hostile = hostile_tree(scenario) if scenario in HOSTILE_TREES else None
        self._entry_corrupted = False  # the entry peer corrupts its first block once
        self._early = (
            EarlyDialer(host, downloader_port, share.meta.share_id)
            if scenario == "early-dial" and downloader_port
            else None
        )
        self._early_task: asyncio.Task[None] | None = None
        self._holding = 0  # early-dial: entry connections whose handshake is held back
        self._hung_up_at: float | None = None  # refusal scenarios: when the last one closed

    @property
    def link(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        share_id = self.share.meta.share_id
        if self.scenario == "wrong-link":  # the link names a share the peers do not serve
            share_id = hashlib.sha256(b"not this share" + share_id).digest()
        if self.scenario == "unsafe-name":  # a bare address: the share comes from the handshake
            return f"{host}:{self.obs.ports['entry']}"
        if self._hostile is not None:
            share_id = hashlib.sha256(self._hostile).digest()
        return f"p2pshare://{host}:{self.obs.ports['entry']}/{share_id.hex()}"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake swarm did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def wait_complete(self, timeout: float) -> bool:
        """True once the downloader announced every piece to the entry peer; then give the
        entry peer's fetch-back requests a moment to be answered. With a wrong link: once the
        downloader has hung up on the entry peer."""
        deadline = time.monotonic() + timeout
        if self.scenario == "request-limit":
            return self._wait_requests_settle(deadline)
        if self.scenario == "late-replies":
            return self._wait_for(deadline, self._late_replies_watched)
        if self.scenario == "bad-metainfo":
            return self._wait_for(deadline, self._spoiled_connection_closed)
        if self.scenario == "early-dial":
            return self._wait_for(deadline, self._early_dial_judged)
        if self.scenario in REFUSALS:
            return self._wait_for(deadline, self._entry_hung_up)
        n = self.share.meta.piece_count
        while time.monotonic() < deadline:
            if self.obs.completed():
                self.obs.completed_at = time.monotonic()
                break
            time.sleep(0.05)
        else:
            return False
        settle = min(deadline, time.monotonic() + 3.0)
        while time.monotonic() < settle:
            answered = sum(len(c.fetched_back) for r in WATCHERS for c in self.obs.by_role(r))
            if self._fetches >= min(3, n) and answered >= self._fetches:
                break
            time.sleep(0.05)
        return True

    def _wait_requests_settle(self, deadline: float) -> bool:
        """True once the downloader has asked the entry peer for blocks and then stopped for
        REQUEST_LIMIT_SETTLE seconds (or broke a rule)."""
        last_count, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            entry = self.obs.by_role("entry")
            if any(c.violations for c in entry):
                return True
            count = sum(len(c.requests) for c in entry)
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            elif count and time.monotonic() - last_change >= REQUEST_LIMIT_SETTLE:
                return True
            time.sleep(0.05)
        return False

    @staticmethod
    def _wait_for(deadline: float, done: Callable[[], bool]) -> bool:
        while time.monotonic() < deadline:
            if done():
                return True
            time.sleep(0.05)
        return False

    def _entry_hung_up(self) -> bool:
        """Every connection to the entry peer has been closed for REFUSAL_SETTLE seconds (a
        downloader may probe the entry peer, hang up, and then dial it for real)."""
        entry = self.obs.by_role("entry")
        if not entry or not all(c.closed for c in entry):
            self._hung_up_at = None
            return False
        if self._hung_up_at is None:
            self._hung_up_at = time.monotonic()
        return time.monotonic() - self._hung_up_at >= REFUSAL_SETTLE

    def _spoiled_connection_closed(self) -> bool:
        """bad-metainfo: a connection that was sent the spoiled metainfo has ended."""
        return any(c.closed for c in self.obs.by_role("entry") if c.bad_metainfo_served)

    def _early_dial_judged(self) -> bool:
        """early-dial: the early connection got its first frame, or the downloader's own
        handshake came (it knows the share: the window is over) and the dialer gave up."""
        early = self._early
        if early is None:
            return True
        self.obs.early_dial, self.obs.early_refused = early.result, early.refused
        if early.result is not None:
            return True
        window_over = any(c.handshake for c in self.obs.by_role("entry")) and not self._holding
        return window_over and (self._early_task is None or self._early_task.done())

    def _late_replies_watched(self) -> bool:
        """late-replies: LATE_SETTLE seconds after the first late reply left (or the downloader
        hung up on every connection that got one)."""
        late = [c for c in self.obs.by_role("entry") if c.late_sent]
        if not late:
            return False
        first = min(t for c in late for t in c.late_sent)
        return time.monotonic() - first >= LATE_SETTLE or all(c.closed for c in late)

    # -- the servers ----------------------------------------------------------------------------
    async def _main(self) -> None:
        # writes to a downloader that already hung up are expected here, not worth a warning
        logging.getLogger("asyncio").setLevel(logging.ERROR)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        servers = []
        for role in ROLES:
            port = self.entry_port if role == "entry" else 0
            server = await asyncio.start_server(self._handler(role), self.host, port)
            self.obs.ports[role] = server.sockets[0].getsockname()[1]
            servers.append(server)
        self._ready.set()
        await self._stop.wait()
        for server in servers:
            server.close()

    def _handler(
        self, role: str
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(role, reader, writer)

        return handle

    async def _serve(
        self, role: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        log = ConnLog(role=role, opened=time.monotonic())
        self.obs.conns.append(log)
        try:
            await self._session(role, log, reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # the swarm is stopping: end quietly (a cancelled handler prints a traceback)
        finally:
            log.closed = True
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _session(
        self, role: str, log: ConnLog, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        meta = self.share.meta
        if self.scenario == "unsafe-name" and role == "entry":
            await self._unsafe_name_session(log, reader, writer)
            return
        if self._hostile is not None:
            if role == "entry":
                await self._hostile_tree_session(self._hostile, log, reader, writer)
            return
        if self.scenario == "early-dial" and role == "entry":
            await self._hold_handshake()
        conn = Connection(Role.ACCEPTOR, meta.share_id)
        hs = Handshake.for_share(
            peer_id=self.obs.peer_ids[role],
            listen_port=self.obs.ports[role],
            share_id=meta.share_id,
            summary=meta.summary,
        )
        n = meta.piece_count
        bits = bytes((n + 7) // 8) if role == "watcher" else craft.full_bitfield(n)
        writer.write(conn.send(hs) + conn.send(Bitfield(bits=bits)))
        if role == "entry" and self.scenario not in QUIET:
            entries = tuple(
                PeerEntry(peer_id=self.obs.peer_ids[r], host=self.host, port=self.obs.ports[r])
                for r in ROLES
                if r != "entry"
            )
            writer.write(conn.send(Peers(entries=entries)))
        await writer.drain()
        while True:
            data = await reader.read(1 << 16)
            conn.receive_data(data)
            if not await self._events(role, log, conn, writer):
                return
            if not data:
                return
            await writer.drain()

    async def _hold_handshake(self) -> None:
        """early-dial: answer like a slow acceptor, EARLY_DELAY late; meanwhile the early
        dialer tries the downloader's port."""
        self._holding += 1
        try:
            if self._early is not None and (self._early_task is None or self._early_task.done()):
                self._early_task = asyncio.create_task(self._early.run(lambda: self._holding > 0))
            await asyncio.sleep(EARLY_DELAY)
        finally:
            self._holding -= 1

    async def _unsafe_name_session(
        self, log: ConnLog, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Send a handshake naming an unsafe file; record what the downloader answers."""
        meta = self.share.meta
        writer.write(
            craft.handshake(
                peer_id=self.obs.peer_ids["entry"],
                listen_port=self.obs.ports["entry"],
                share_id=meta.share_id,
                file_size=meta.file_size,
                piece_size=meta.piece_size,
                file_sha1=meta.file_sha1,
                name=UNSAFE_NAME,
            )
        )
        await writer.drain()
        conn = Connection(Role.DIALER)  # the downloader, as seen from here: it speaks second
        while data := await reader.read(1 << 16):
            conn.receive_data(data)
            with contextlib.suppress(RemoteProtocolError):
                while (event := conn.next_event()) is not NEED_DATA:
                    if isinstance(event, Handshake):
                        log.handshake = event
                    elif isinstance(event, Error):
                        log.their_error = event
                    elif isinstance(event, Request | MetainfoRequest):
                        log.asked += 1

    async def _hostile_tree_session(
        self, blob: bytes, log: ConnLog, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve a hostile tree metainfo (no pieces) to whoever asks; record the answer."""
        writer.write(
            craft.handshake(
                peer_id=self.obs.peer_ids["entry"],
                listen_port=self.obs.ports["entry"],
                share_id=hashlib.sha256(blob).digest(),
                file_size=0,
                piece_size=C.DEFAULT_PIECE_SIZE,
                file_sha1=craft.tree_tag(len(blob)),
                name="evil/",
            )
            + craft.bitfield(b"")
        )
        await writer.drain()
        # Frames are decoded one by one, without a state machine: what matters is what the
        # downloader sends, whatever state it believes the connection is in.
        while True:
            try:
                head = await reader.readexactly(4)
                body = await reader.readexactly(int.from_bytes(head, "big"))
            except asyncio.IncompleteReadError:
                return
            if not body or len(body) > C.MAX_FRAME_LENGTH:
                continue
            try:
                event = codec.decode(body[0], body[1:])
            except (RemoteProtocolError, KeyError):
                continue
            if isinstance(event, Handshake):
                log.handshake = event
            elif isinstance(event, Error):
                log.their_error = event
                return
            elif isinstance(event, Request):
                log.asked += 1
                log.requests.append((time.monotonic(), (event.index, 0, 0)))
            elif isinstance(event, MetainfoRequest) and event.chunk < chunk_count(len(blob)):
                lo, hi = chunk_bounds(len(blob), event.chunk)
                writer.write(craft.metainfo_data(event.chunk, len(blob), blob[lo:hi]))
                await writer.drain()

    async def _events(
        self, role: str, log: ConnLog, conn: Connection, writer: asyncio.StreamWriter
    ) -> bool:
        # Everything one read brought is parsed before anything is answered, as a peer that
        # answers in batches would: requests that arrive together are all outstanding at once,
        # so a duplicate among them is seen (MSG-6, META-16).
        events: list[ReceivedEvent] = []
        failure: RemoteProtocolError | None = None
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as err:
                failure = err
                break
            if event is NEED_DATA:
                break
            events.append(event)
            if isinstance(event, ConnectionClosed | Error):
                break  # nothing follows (and the end of stream would repeat)
        for received in events:
            if not self._event(role, log, conn, writer, received):
                return False
        if failure is not None:
            if not (self.scenario == "wrong-link" and failure.requirement == "HS-14"):
                log.violations.append(
                    (failure.requirement, f"{failure.code.name}: {failure.reason}")
                )
            writer.write(conn.send(Error.from_exception(failure)))
            await writer.drain()
            return False
        return True

    def _event(
        self,
        role: str,
        log: ConnLog,
        conn: Connection,
        writer: asyncio.StreamWriter,
        event: ReceivedEvent,
    ) -> bool:
        """Act on one event from the downloader; False when the connection ends."""
        meta = self.share.meta
        now = time.monotonic()
        if isinstance(event, ConnectionClosed):
            return False
        if isinstance(event, Error):
            log.their_error = event
            return False
        if isinstance(event, Handshake):
            log.handshake = event
        elif isinstance(event, Bitfield):
            log.bits = event.bits
        elif isinstance(event, Interested) and conn.am_choking:
            writer.write(conn.send(Unchoke()))
        if isinstance(event, Request | MetainfoRequest):
            log.asked += 1
        if isinstance(event, Request):
            log.requests.append((now, (event.index, event.offset, event.length)))
            log.max_outstanding = max(log.max_outstanding, len(conn.their_requests))
            self._answer(role, log, conn, writer, event)
        elif isinstance(event, Have):
            log.haves.append((now, event.index))
            self._fetch_back(role, log, conn, writer)
        elif isinstance(event, Unchoke | Bitfield):
            self._fetch_back(role, log, conn, writer)
        elif isinstance(event, Piece):
            plen = meta.piece_length(event.index)
            ok = (
                event.offset == 0
                and len(event.data) == plen
                and hashlib.sha256(event.data).digest() == meta.piece_hashes[event.index]
            )
            log.fetched_back.append((event.index, ok))
            self._fetch_back(role, log, conn, writer)
        elif isinstance(event, Reject):
            log.fetched_back.append((event.index, True))
        elif isinstance(event, MetainfoRequest):
            blob = self.share.blob
            if self.scenario == "bad-metainfo" and role == "entry":
                blob = blob[:-32] + bytes(b ^ 0x5A for b in blob[-32:])  # the last piece hash
                log.bad_metainfo_served += 1
            if event.chunk < chunk_count(len(blob)):
                lo, hi = chunk_bounds(len(blob), event.chunk)
                writer.write(
                    conn.send(
                        MetainfoData(chunk=event.chunk, total_size=len(blob), data=blob[lo:hi])
                    )
                )
            else:
                writer.write(conn.send(MetainfoReject(chunk=event.chunk)))
        return True

    def _answer(
        self, role: str, log: ConnLog, conn: Connection, writer: asyncio.StreamWriter, req: Request
    ) -> None:
        meta = self.share.meta
        if role == "silent" or self.scenario == "request-limit":
            return  # never answers: the downloader must get the block elsewhere (BEH-8)
        if self.scenario == "late-replies" and not conn.am_choking:
            self._answer_late(log, conn, writer, req)
            return
        if role in ("reject", "watcher") or conn.am_choking:  # (the watcher has nothing)
            writer.write(conn.send(Reject(index=req.index, offset=req.offset, length=req.length)))
            return
        start = meta.piece_offset(req.index) + req.offset
        data = self.share.data[start : start + req.length]
        # The entry peer spoils the very first block it serves: a piece the downloader does
        # not hold yet, so a downloader announcing pieces before verifying them is caught
        # (the corrupt peer is dialed late, when most pieces are held already).
        good = role != "corrupt" and (role != "entry" or self._entry_corrupted)
        if role == "entry":
            self._entry_corrupted = True
        if not good:
            data = bytes(b ^ 0x5A for b in data)
        log.served.append((time.monotonic(), req.index, good))
        writer.write(conn.send(Piece(index=req.index, offset=req.offset, data=data)))

    def _answer_late(
        self, log: ConnLog, conn: Connection, writer: asyncio.StreamWriter, req: Request
    ) -> None:
        """Send the block LATE_BY seconds after the downloader's REQUEST_TIMEOUT has passed."""
        meta = self.share.meta
        start = meta.piece_offset(req.index) + req.offset
        piece = Piece(
            index=req.index, offset=req.offset, data=self.share.data[start : start + req.length]
        )

        def send() -> None:
            if log.closed or writer.is_closing():
                return
            try:
                writer.write(conn.send(piece))
            except LocalProtocolError:
                return  # the connection failed meanwhile
            log.late_sent.append(time.monotonic())

        asyncio.get_running_loop().call_later(self.request_timeout + LATE_BY, send)

    def _fetch_back(
        self, role: str, log: ConnLog, conn: Connection, writer: asyncio.StreamWriter
    ) -> None:
        """The entry peer and the watcher download up to 3 announced pieces back (between
        them) to check what is served."""
        if role not in WATCHERS or self._fetches >= 3 or conn.our_requests:
            return
        fetched = {j for j, _ in log.fetched_back}
        claimed = [i for _, i in log.haves] + log.claimed(self.share.meta.piece_count)
        announced = [i for i in claimed if i not in fetched]
        if not announced:
            return
        try:
            if not conn.am_interested:
                writer.write(conn.send(Interested()))
            if conn.peer_choking:
                return
            index = announced[0]
            length = self.share.meta.piece_length(index)
            if length > C.MAX_BLOCK_LENGTH:
                return
            writer.write(conn.send(Request(index=index, offset=0, length=length)))
            self._fetches += 1
        except LocalProtocolError:
            return
