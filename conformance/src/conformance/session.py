"""Helpers cases share: a full handshake, getting unchoked, fetching and verifying blocks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from p2pshare_core import constants as C
from p2pshare_core.events import Handshake

from conformance import craft
from conformance.context import CaseContext
from conformance.expect import ExpectMessage
from conformance.frames import HARMLESS, Received, piece_data
from conformance.outcomes import Fail, Timeout, Unsupported
from conformance.wire import Wire

NOT_CHOKE = tuple(n for n in HARMLESS if n not in ("choke", "unchoke"))


def our_handshake(ctx: CaseContext, *, peer_id: bytes, listen_port: int = 0, **over: Any) -> bytes:
    """Our handshake for the target's share; keyword overrides break single fields."""
    hs = ctx.target.handshake
    fields: dict[str, Any] = {
        "peer_id": peer_id,
        "listen_port": listen_port,
        "share_id": hs.share_id,
        "file_size": hs.file_size,
        "piece_size": hs.piece_size,
        "file_sha1": hs.file_sha1,
        "name": hs.name,
    }
    fields.update(over)
    return craft.handshake(**fields)


@dataclass
class Session:
    """A connection past both handshakes and bitfields: ready for requests."""

    ctx: CaseContext
    wire: Wire
    peer_id: bytes
    their_handshake: Handshake
    unchoked: bool = False
    unchoked_at: int = 0
    their_bits: bytes = b""
    notes: list[str] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        self.wire.write(data)

    def ensure_unchoked(self) -> None:
        """Declare interest and wait for unchoke (a choked target rejects requests)."""
        if self.unchoked:
            return
        self.wire.write(craft.interested())
        try:
            self.wire.expect(ExpectMessage(("unchoke",), skip=(*NOT_CHOKE, "choke")))
        except Timeout as exc:
            raise Unsupported(
                f"target did not unchoke us within {self.wire.timeout:g}s after interested"
            ) from exc
        self.unchoked = True
        self.unchoked_at = len(self.wire.received)

    def choked_since_unchoke(self) -> bool:
        """True if a choke arrived after the unchoke we waited for (rejects are then legal)."""
        return any(f.name == "choke" for f in self.wire.received[self.unchoked_at :])

    def fetch_block(self, index: int, offset: int, length: int) -> bytes:
        """Request one block and return its data; a reject makes the case unsupported."""
        self.wire.write(craft.request(index, offset, length))
        reply = self.expect_reply(index, offset, length)
        if reply.name == "reject":
            if not self.unchoked or self.choked_since_unchoke():
                raise Unsupported(f"target rejected request ({index}, {offset}, {length})")
            if index in self.ctx.target.bitfield:
                raise Fail(
                    "an announced piece was rejected while the target was unchoking us",
                    expected=f"the data of ({index}, {offset}, {length}) [MSG-20]",
                    actual=reply.describe(),
                )
            raise Unsupported(f"target rejected request ({index}, {offset}, {length})")
        data = piece_data(reply)
        if len(data) != length:
            raise Fail(
                "piece data length differs from the request",
                expected=f"{length} bytes [MSG-4]",
                actual=f"{len(data)} bytes",
            )
        return data

    def expect_reply(self, index: int, offset: int, length: int) -> Received:
        """The one reply (piece or reject) to request (index, offset, length)."""
        reply = self.wire.expect(
            ExpectMessage(("piece", "reject"), (("index", index), ("offset", offset)))
        )
        assert reply is not None
        if reply.name == "reject" and reply.fields.get("length") != length:
            raise Fail(
                "reject does not echo the request",
                expected=f"reject({index}, {offset}, {length})",
                actual=reply.describe(),
            )
        return reply

    def fetch_piece(self, index: int) -> bytes:
        """Whole piece `index`, in blocks of at most MAX_BLOCK_LENGTH."""
        length = self.ctx.target.summary.piece_length(index)
        block = min(length, C.MAX_BLOCK_LENGTH)
        parts = [
            self.fetch_block(index, off, min(block, length - off))
            for off in range(0, length, block)
        ]
        return b"".join(parts)


def open_session(
    ctx: CaseContext,
    *,
    peer_id: bytes | None = None,
    bits: bytes | None = None,
    wire: Wire | None = None,
    listen_port: int = 0,
    flags: int = 0,
) -> Session:
    """Connect, read the target's handshake, send ours (offering `flags`: capability bits,
    spec 5.1) and our (empty) bitfield."""
    wire = wire or ctx.connect()
    hs_frame = wire.expect(ExpectMessage(("handshake",), skip=("keepalive",)))
    assert hs_frame is not None and isinstance(hs_frame.event, Handshake)
    pid = peer_id if peer_id is not None else ctx.peer_id()
    count = ctx.target.piece_count
    wire.write(
        our_handshake(ctx, peer_id=pid, listen_port=listen_port, flags=flags)
        + craft.bitfield(bits if bits is not None else craft.empty_bitfield(count))
    )
    bf = wire.expect(ExpectMessage(("bitfield",), skip=("keepalive",)))
    assert bf is not None
    return Session(
        ctx=ctx,
        wire=wire,
        peer_id=pid,
        their_handshake=hs_frame.event,
        their_bits=bytes.fromhex(str(bf.fields.get("bits", ""))),
    )


def verifiable_piece(ctx: CaseContext, prefer_last: bool = False) -> int:
    """A piece the target holds and whose hash we know; Unsupported if there is none."""
    if ctx.target.metainfo is None:
        raise Unsupported(f"no metainfo from the target: {ctx.target.metainfo_error}")
    held = ctx.target.pieces_held()
    if not held:
        raise Unsupported("target holds no piece")
    return held[-1] if prefer_last else held[0]


def check_piece_hash(ctx: CaseContext, index: int, data: bytes) -> None:
    assert ctx.target.metainfo is not None
    want = ctx.target.metainfo.piece_hashes[index]
    got = hashlib.sha256(data).digest()
    if got != want:
        raise Fail(
            f"piece {index} does not match its hash",
            expected=f"SHA-256 {want.hex()} [MSG-11, META-4]",
            actual=f"SHA-256 {got.hex()}",
        )
