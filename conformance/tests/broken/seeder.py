"""A small seeder built on the core Connection, with switchable faults.

The unbroken seeder passes the cases the catalogue uses; each fault breaks exactly one
requirement, so the catalogue test can show that the case naming that requirement (and that
case) notices. It runs its asyncio loop in a thread so the blocking suite can talk to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from p2pshare_core import constants as C
from p2pshare_core.connection import Connection
from p2pshare_core.errors import RemoteProtocolError
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
    Peers,
    Piece,
    Reject,
    Request,
    Unchoke,
)
from p2pshare_core.metainfo import Metainfo, chunk_bounds, chunk_count
from p2pshare_core.states import Role

from conformance import craft

FAULTS = (
    "corrupt-piece",  # flips the first byte of every piece it serves
    "ignore-request",  # never answers requests
    "oor-data",  # answers an out-of-range request with data instead of OUT_OF_RANGE
    "waits-oversize",  # keeps reading after an oversize length instead of closing
    "dials-higher",  # dials every PEX entry, whatever its peer ID
    "pex-51",  # sends a peers message with 51 entries after its bitfield
    "closes-on-unknown",  # drops the connection on an unassigned message id
    "silent-close",  # closes on a protocol error without sending an error frame first
    "no-unchoke",  # legal: never unchokes, so every request is rejected (control)
    "chatty",  # legal: keepalive + have before every reply (control for false failures)
)


def make_share(size: int = 200_000, piece_size: int = C.MIN_PIECE_SIZE) -> tuple[bytes, Metainfo]:
    data = bytes((i * 7 + i // 251) % 256 for i in range(size))
    hashes = tuple(
        hashlib.sha256(data[i : i + piece_size]).digest() for i in range(0, size, piece_size)
    )
    meta = Metainfo("mini.bin", size, piece_size, hashlib.sha1(data).digest(), hashes)
    return data, meta


@dataclass
class Seeder:
    """Serves one in-memory file; `fault` names one deliberate bug (None = behave)."""

    fault: str | None = None
    port: int = 0
    peer_id: bytes = b"\x80" + bytes(19)

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault}")
        self.data, self.meta = make_share()
        self.blob = self.meta.encode()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.dialled: list[tuple[str, int]] = []
        self.listening: dict[int, tuple[bytes, int]] = {}  # connection -> (peer_id, port)

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Seeder:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("seeder did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    # -- one connection ------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(self._session(reader, writer), 30)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        m = self.meta
        conn = Connection(Role.ACCEPTOR, m.share_id)
        try:
            await self._exchange(conn, reader, writer)
        finally:
            self.listening.pop(id(conn), None)

    async def _exchange(
        self, conn: Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        m = self.meta
        hs = Handshake.for_share(
            peer_id=self.peer_id, listen_port=self.port, share_id=m.share_id, summary=m.summary
        )
        writer.write(conn.send(hs) + conn.send(Bitfield(bits=craft.full_bitfield(m.piece_count))))
        pending = bytearray()
        while True:
            chunk = await reader.read(65536)
            frames, eof = self._split(pending, chunk)
            for frame in frames:
                if not await self._pre_filter(frame, writer):
                    return
                conn.receive_data(frame)
                if not await self._drain_events(conn, writer, reader):
                    return
            if eof:
                if pending:
                    conn.receive_data(bytes(pending))
                conn.receive_data(b"")
                await self._drain_events(conn, writer, reader)
                return
            await writer.drain()

    @staticmethod
    def _split(pending: bytearray, chunk: bytes) -> tuple[list[bytes], bool]:
        """Whole frames from the stream; an oversize length passes through at once."""
        if not chunk:
            return [], True
        pending += chunk
        frames = []
        while len(pending) >= 4:
            (length,) = struct.unpack_from(">I", pending)
            if length > C.MAX_FRAME_LENGTH:
                frames.append(bytes(pending))
                pending.clear()
                break
            if len(pending) < 4 + length:
                break
            frames.append(bytes(pending[: 4 + length]))
            del pending[: 4 + length]
        return frames, False

    async def _pre_filter(self, frame: bytes, writer: asyncio.StreamWriter) -> bool:
        """Faults that act on raw frames before the Connection sees them; False = hang up."""
        if len(frame) < 5:
            return True
        message_id = frame[4]
        if self.fault == "closes-on-unknown" and message_id > craft.ERROR:
            return False
        if self.fault == "oor-data" and message_id == craft.REQUEST and len(frame) == 17:
            index, offset, length = struct.unpack_from(">III", frame, 5)
            if index >= self.meta.piece_count:
                writer.write(craft.piece(index, offset, bytes(max(1, min(length, 16)))))
        return True

    async def _drain_events(
        self, conn: Connection, writer: asyncio.StreamWriter, reader: asyncio.StreamReader
    ) -> bool:
        """Handle every parsed event; False once the connection is over."""
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as err:
                if self.fault == "oor-data" and err.code == 7:
                    return True  # "served" the request above; pretend nothing happened
                if self.fault == "waits-oversize" and err.code == 2:
                    while await reader.read(65536):  # keep buffering the huge frame's body
                        pass
                    return False
                if self.fault != "silent-close":
                    writer.write(conn.send(Error.from_exception(err)))
                    await writer.drain()
                return False
            if event is NEED_DATA:
                return True
            if isinstance(event, Error | ConnectionClosed):
                return False
            if isinstance(event, Handshake):
                self._pex_on_handshake(conn, event, writer)
            for out in self._answer(conn, event):
                if self.fault == "chatty":
                    writer.write(craft.keepalive() + conn.send(Have(index=0)))
                writer.write(out)
            if isinstance(event, Peers) and self.fault == "dials-higher":
                for entry in event.entries:
                    if entry.host in ("127.0.0.1", "::1") and entry.port:
                        await self._dial(entry.host, entry.port)

    def _answer(self, conn: Connection, event: object) -> Iterator[bytes]:
        m = self.meta
        if isinstance(event, Interested) and conn.am_choking and self.fault != "no-unchoke":
            yield conn.send(Unchoke())
        elif isinstance(event, Request):
            if self.fault == "ignore-request":
                return
            if conn.am_choking:
                yield conn.send(Reject(index=event.index, offset=event.offset, length=event.length))
                return
            start = m.piece_offset(event.index) + event.offset
            data = self.data[start : start + event.length]
            if self.fault == "corrupt-piece":
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            yield conn.send(Piece(index=event.index, offset=event.offset, data=data))
        elif isinstance(event, MetainfoRequest):
            if event.chunk < chunk_count(len(self.blob)):
                lo, hi = chunk_bounds(len(self.blob), event.chunk)
                yield conn.send(
                    MetainfoData(
                        chunk=event.chunk, total_size=len(self.blob), data=self.blob[lo:hi]
                    )
                )
            else:
                yield conn.send(MetainfoReject(chunk=event.chunk))

    def _pex_on_handshake(
        self, conn: Connection, hs: Handshake, writer: asyncio.StreamWriter
    ) -> None:
        """Minimal PEX: a newcomer learns the connected, listening peers (PEX-4, PEX-5)."""
        entries = [
            craft.peer_entry(pid, "127.0.0.1", port)
            for pid, port in self.listening.values()
            if pid != hs.peer_id
        ]
        if self.fault == "pex-51":
            entries = [
                craft.peer_entry(bytes([i + 1]) * 20, "127.0.0.1", 1000 + i) for i in range(51)
            ]
        if entries:
            writer.write(craft.peers(entries[:51]))
        if hs.listen_port:
            self.listening[id(conn)] = (hs.peer_id, hs.listen_port)

    async def _dial(self, host: str, port: int) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            _, w = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
            self.dialled.append((host, port))
            w.close()
