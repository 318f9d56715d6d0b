"""A scripted hostile peer on the sans-IO core: a real TCP listener that lies on purpose.

Each `Behaviour` is one way a stranger can misbehave towards a downloader (corrupt data, lying
bitfields and haves, unsolicited pieces, truncated and oversized frames, wrong-state messages,
another share, a lying handshake summary, PEX floods, garbage after the handshake). Valid
messages go through the core `Connection` (so the peer is consistent with itself); the broken
bytes are written raw. `accepted` counts the connections it was given, so tests can measure
how often a downloader redials it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import struct
from enum import Enum

from p2pshare_core.bitfield import Bitfield as Bits
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
    MetainfoRequest,
    PeerEntry,
    Peers,
    Piece,
    Reject,
    Request,
    Unchoke,
)
from p2pshare_core.metainfo import Metainfo, chunk_bounds
from p2pshare_core.states import Role


class Behaviour(Enum):
    CORRUPT = "corrupt"  # serves every block with its bytes flipped
    CORRUPT_ONE = "corrupt-one"  # serves piece 0 with one byte flipped, the rest correctly
    LYING_BITFIELD = "lying-bitfield"  # claims every piece, rejects every request
    LYING_HAVE = "lying-have"  # empty bitfield, then a have for every piece, then rejects
    UNSOLICITED = "unsolicited"  # sends a piece nobody asked for
    TRUNCATED = "truncated"  # half a frame, then EOF
    OVERSIZED = "oversized"  # a frame length of 4 GiB
    WRONG_STATE = "wrong-state"  # a second bitfield
    OTHER_SHARE = "other-share"  # handshake for another share
    LYING_SUMMARY = "lying-summary"  # right share ID, wrong file size in the handshake
    PEX_FLOOD = "pex-flood"  # PEX lists of 50 ports of one host, every 2 s (legal pace)
    GARBAGE = "garbage"  # handshake + bitfield, then a malformed frame
    HOSTILE_NAME = "hostile-name"  # a handshake naming the file "../x.bin"
    SLOWLORIS = "slowloris"  # its handshake, one byte every 0.2 s


@dataclasses.dataclass
class HostilePeer:
    """Listens on `host`; serves `data` / `meta` in the way `behaviour` says."""

    behaviour: Behaviour
    meta: Metainfo
    data: bytes
    host: str = "127.0.0.1"
    peer_id: bytes = b"\x66" * 20
    pex_target: str = "127.0.0.99"
    port: int = 0
    accepted: int = 0
    pex_rounds: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = dataclasses.field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await asyncio.wait_for(self._session(reader, writer), 60)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, RemoteProtocolError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()

    def _handshake(self) -> Handshake:
        m, b = self.meta, self.behaviour
        hs = Handshake.for_share(
            peer_id=self.peer_id, listen_port=self.port, share_id=m.share_id, summary=m.summary
        )
        if b is Behaviour.OTHER_SHARE:
            hs = dataclasses.replace(hs, share_id=bytes(32), file_size=m.file_size + 1)
        elif b is Behaviour.LYING_SUMMARY:
            hs = dataclasses.replace(hs, file_size=m.file_size + 1)
        return hs

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        b = self.behaviour
        hs = self._handshake()
        conn = Connection(Role.ACCEPTOR, hs.share_id)
        if b is Behaviour.HOSTILE_NAME:
            assert len(self.meta.name) == len("../x.bin")
            raw = conn.send(hs).replace(self.meta.name.encode(), b"../x.bin")
            writer.write(raw)  # (the codec would refuse to build it: written raw)
            await reader.read()
            return
        if b is Behaviour.SLOWLORIS:
            for byte in conn.send(hs):
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)
            return
        writer.write(conn.send(hs))
        n = hs.summary.piece_count
        claims = Bits(n) if b is Behaviour.LYING_HAVE else Bits.full(n)
        writer.write(conn.send(Bitfield(bits=claims.to_bytes())))
        if b is Behaviour.LYING_HAVE:
            writer.write(b"".join(conn.send(Have(index=i)) for i in range(n)))
        if b is Behaviour.OVERSIZED:
            writer.write(struct.pack(">IB", 0xFFFFFFFF, 4))
        elif b is Behaviour.TRUNCATED:
            writer.write(struct.pack(">IB", 100, 4) + bytes(10))
            writer.write_eof()
            await reader.read()  # until the downloader hangs up
            return
        elif b is Behaviour.WRONG_STATE:
            writer.write(struct.pack(">IB", 1 + len(claims.to_bytes()), 1) + claims.to_bytes())
        elif b is Behaviour.GARBAGE:
            writer.write(b"\x00\x00\x00\x06\x03" + bytes(5))  # a request with a 5-byte payload
        elif b is Behaviour.UNSOLICITED:
            writer.write(conn.send(Unchoke()))
            writer.write(struct.pack(">IBII", 9 + 16, 4, 0, 0) + bytes(16))
        if b is Behaviour.PEX_FLOOD:
            self._tasks.add(asyncio.create_task(self._pex_flood(conn, writer)))
        await writer.drain()
        while chunk := await reader.read(65536):
            conn.receive_data(chunk)
            while (event := conn.next_event()) is not NEED_DATA:
                if isinstance(event, Error | ConnectionClosed):
                    return
                for out in self._answer(conn, event):
                    writer.write(out)
            await writer.drain()

    def _answer(self, conn: Connection, event: object) -> list[bytes]:
        m, b = self.meta, self.behaviour
        if isinstance(event, Interested) and conn.am_choking:
            return [conn.send(Unchoke())]
        if isinstance(event, Request):
            if b in (Behaviour.LYING_BITFIELD, Behaviour.LYING_HAVE) or conn.am_choking:
                return [
                    conn.send(Reject(index=event.index, offset=event.offset, length=event.length))
                ]
            start = m.piece_offset(event.index) + event.offset
            data = self.data[start : start + event.length]
            if b is Behaviour.CORRUPT:
                data = bytes(x ^ 0xFF for x in data)
            elif b is Behaviour.CORRUPT_ONE and event.index == 0 and event.offset == 0:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            return [conn.send(Piece(index=event.index, offset=event.offset, data=data))]
        if isinstance(event, MetainfoRequest):
            blob = m.encode()
            lo, hi = chunk_bounds(len(blob), event.chunk)
            return [
                conn.send(MetainfoData(chunk=event.chunk, total_size=len(blob), data=blob[lo:hi]))
            ]
        return []

    async def _pex_flood(self, conn: Connection, writer: asyncio.StreamWriter) -> None:
        """50 ports of one third-party host per peers message, a new list every 2 s."""
        with contextlib.suppress(OSError, asyncio.CancelledError, RuntimeError):
            for round_ in range(30):
                entries = tuple(
                    PeerEntry(
                        peer_id=bytes([1]) + (round_ * 50 + i).to_bytes(19, "big"),
                        host=self.pex_target,
                        port=20000 + round_ * 50 + i,
                    )
                    for i in range(50)
                )
                writer.write(conn.send(Peers(entries=entries)))
                await writer.drain()
                self.pex_rounds += 1
                await asyncio.sleep(2.05)
