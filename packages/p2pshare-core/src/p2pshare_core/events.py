"""Protocol events: one frozen dataclass per wire message, plus ConnectionClosed and NEED_DATA.

Events check only that they are *representable on the wire* (types, integer widths, sizes), so
every valid event round-trips through the codec and conformance tests can still build messages
that break protocol *semantics* (out-of-range index, a 51-entry peers message...). Semantic rules
that depend on the connection (geometry, outstanding requests, state) live in `connection.py`.
A bad field raises LocalProtocolError(MALFORMED); the codec re-raises it as remote when the
value came off the wire.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, TypeAlias

from .constants import (
    FILE_SHA1_LENGTH,
    MAX_FRAME_LENGTH,
    MAX_REASON_LENGTH,
    PEER_ID_LENGTH,
    PROTOCOL_VERSION,
    SHARE_ID_LENGTH,
)
from .errors import ErrorCode, LocalProtocolError, ProtocolError
from .metainfo import ShareSummary

__all__ = [
    "NEED_DATA",
    "Bitfield",
    "Cancel",
    "Choke",
    "ConnectionClosed",
    "Error",
    "Event",
    "Handshake",
    "Have",
    "Interested",
    "KeepAlive",
    "MetainfoData",
    "MetainfoReject",
    "MetainfoRequest",
    "NeedData",
    "NotInterested",
    "PeerEntry",
    "Peers",
    "Piece",
    "ReceivedEvent",
    "Reject",
    "Request",
    "SpanCancel",
    "SpanData",
    "SpanReject",
    "SpanRequest",
    "Unchoke",
]

U8: Final = 0xFF
U16: Final = 0xFFFF
U32: Final = 0xFFFF_FFFF
U64: Final = 0xFFFF_FFFF_FFFF_FFFF
# A frame's length covers id + payload, so a payload is at most MAX_FRAME_LENGTH - 1 bytes.
MAX_PAYLOAD: Final = MAX_FRAME_LENGTH - 1
MAX_PIECE_DATA: Final = MAX_PAYLOAD - 8  # index + offset precede the data
MAX_METAINFO_DATA: Final = MAX_PAYLOAD - 8  # chunk + total size precede the data


class NeedData(Enum):
    """Type of the NEED_DATA sentinel: next_event() needs more bytes before it can say more."""

    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA


def _bad(reason: str, requirement: str = "TERM-1") -> LocalProtocolError:
    return LocalProtocolError(ErrorCode.MALFORMED, requirement, reason)


def _uint(name: str, value: object, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise _bad(f"{name} must be in 0..{maximum}, got {value}")  # TERM-1: fixed widths


def _bytes(name: str, value: object, *, exact: int | None = None, maximum: int = U32) -> None:
    if not isinstance(value, bytes):
        raise _bad(f"{name} must be bytes, not {type(value).__name__}")
    if exact is not None and len(value) != exact:
        raise _bad(f"{name} must be {exact} bytes, got {len(value)}")
    if len(value) > maximum:
        raise _bad(f"{name} must be at most {maximum} bytes, got {len(value)}", "FRAME-4")


def _text(name: str, value: object, maximum: int, requirement: str) -> None:
    if not isinstance(value, str):
        raise _bad(f"{name} must be str, not {type(value).__name__}", "TERM-2")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise _bad(f"{name} is not encodable as UTF-8", "TERM-2") from None
    if size > maximum:
        raise _bad(f"{name} must be at most {maximum} bytes of UTF-8, got {size}", requirement)


@dataclass(frozen=True, slots=True, kw_only=True)
class Handshake:
    """First frame each way: who we are and which share we mean (with its geometry)."""

    peer_id: bytes
    listen_port: int
    share_id: bytes
    file_size: int
    piece_size: int
    file_sha1: bytes
    name: str
    version: int = PROTOCOL_VERSION
    flags: int = 0

    def __post_init__(self) -> None:
        _bytes("peer_id", self.peer_id, exact=PEER_ID_LENGTH)
        _uint("listen_port", self.listen_port, U16)
        _bytes("share_id", self.share_id, exact=SHARE_ID_LENGTH)
        _uint("file_size", self.file_size, U64)
        _uint("piece_size", self.piece_size, U32)
        _bytes("file_sha1", self.file_sha1, exact=FILE_SHA1_LENGTH)
        _text("name", self.name, U16, "HS-4")
        _uint("version", self.version, U8)
        _uint("flags", self.flags, U8)

    @property
    def summary(self) -> ShareSummary:
        """The share description this handshake carries (compare it to detect SHARE_MISMATCH)."""
        return ShareSummary(self.name, self.file_size, self.piece_size, self.file_sha1)

    @classmethod
    def for_share(
        cls,
        *,
        peer_id: bytes,
        listen_port: int,
        share_id: bytes,
        summary: ShareSummary,
        flags: int = 0,
    ) -> Handshake:
        """The handshake that announces `summary` (the inverse of `.summary`)."""
        return cls(
            flags=flags,
            peer_id=peer_id,
            listen_port=listen_port,
            share_id=share_id,
            file_size=summary.file_size,
            piece_size=summary.piece_size,
            file_sha1=summary.file_sha1,
            name=summary.name,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Bitfield:
    """Which pieces the sender has; piece 0 is the high bit of the first byte."""

    bits: bytes

    def __post_init__(self) -> None:
        _bytes("bits", self.bits, maximum=MAX_PAYLOAD)


@dataclass(frozen=True, slots=True, kw_only=True)
class Have:
    """The sender now has (verified) piece `index`."""

    index: int

    def __post_init__(self) -> None:
        _uint("index", self.index, U32)


@dataclass(frozen=True, slots=True, kw_only=True)
class _BlockRef:
    index: int
    offset: int
    length: int

    def __post_init__(self) -> None:
        _uint("index", self.index, U32)
        _uint("offset", self.offset, U32)
        _uint("length", self.length, U32)

    @property
    def triple(self) -> tuple[int, int, int]:
        """(index, offset, length): the key that matches a request to its reply."""
        return (self.index, self.offset, self.length)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request(_BlockRef):
    """Ask for `length` bytes of piece `index` at `offset`; answered by exactly one piece/reject."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reject(_BlockRef):
    """The reply to a request that will not be served."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel(_BlockRef):
    """The requester no longer needs a block; the request still gets exactly one reply."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Piece:
    """A block of data answering the request (index, offset, len(data))."""

    index: int
    offset: int
    data: bytes

    def __post_init__(self) -> None:
        _uint("index", self.index, U32)
        _uint("offset", self.offset, U32)
        _bytes("data", self.data, maximum=MAX_PIECE_DATA)

    @property
    def triple(self) -> tuple[int, int, int]:
        """(index, offset, length) of the request this piece answers."""
        return (self.index, self.offset, len(self.data))


@dataclass(frozen=True, slots=True, kw_only=True)
class Choke:
    """The sender will not serve requests (it rejects them) until it unchokes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unchoke:
    """The sender will serve requests."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Interested:
    """The sender wants pieces the receiver has."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NotInterested:
    """The sender wants nothing from the receiver."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepAlive:
    """Empty frame (length 0) that keeps an idle connection open."""


@functools.lru_cache(maxsize=4096)
def ip_literal(text: str | bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """`ipaddress.ip_address`, memoised (bounded): every peers message names up to 50
    addresses, and each is parsed to be checked, encoded, decoded and filtered, over and over
    for the same few peers (a third of a swarm's CPU time in the simulator, #19)."""
    return ipaddress.ip_address(text)


@functools.lru_cache(maxsize=4096)
def _canonical_host(host: str) -> tuple[str, bool]:
    """(the normalised literal, whether it has an IPv6 scope id); ValueError: not a literal.
    Memoised like `ip_literal`: every entry of every peers message is checked."""
    address = ip_literal(host)
    scoped = isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None
    return str(address), scoped


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerEntry:
    """One peer in a peers (PEX) message; `host` is an IPv4/IPv6 literal, normalised."""

    peer_id: bytes
    host: str
    port: int

    def __post_init__(self) -> None:
        _bytes("peer_id", self.peer_id, exact=PEER_ID_LENGTH)
        _uint("port", self.port, U16)
        if not isinstance(self.host, str):
            raise _bad(f"host must be str, not {type(self.host).__name__}")
        try:
            canonical, scoped = _canonical_host(self.host)
        except ValueError:
            raise _bad(f"host {self.host!r} is not an IPv4 or IPv6 literal") from None
        if scoped:
            raise _bad(f"host {self.host!r} has a scope id, which cannot be sent")
        object.__setattr__(self, "host", canonical)

    @property
    def family(self) -> int:
        """4 or 6, as on the wire."""
        return ip_literal(self.host).version


@dataclass(frozen=True, slots=True, kw_only=True)
class Peers:
    """Peer exchange: peers the sender is connected to (at most MAX_PEX_ENTRIES to be legal)."""

    entries: tuple[PeerEntry, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.entries, tuple):
            if not isinstance(self.entries, list):
                raise _bad(f"entries must be a tuple, not {type(self.entries).__name__}")
            object.__setattr__(self, "entries", tuple(self.entries))
        if len(self.entries) > U8:
            raise _bad(f"a peers message holds at most {U8} entries, got {len(self.entries)}")
        for entry in self.entries:
            if not isinstance(entry, PeerEntry):
                raise _bad(f"entries must be PeerEntry, not {type(entry).__name__}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MetainfoRequest:
    """Ask for metainfo chunk `chunk` (used by a node that only knows the share ID)."""

    chunk: int

    def __post_init__(self) -> None:
        _uint("chunk", self.chunk, U32)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetainfoData:
    """Metainfo chunk `chunk` of a metainfo that is `total_size` bytes long."""

    chunk: int
    total_size: int
    data: bytes

    def __post_init__(self) -> None:
        _uint("chunk", self.chunk, U32)
        _uint("total_size", self.total_size, U32)
        _bytes("data", self.data, maximum=MAX_METAINFO_DATA)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetainfoReject:
    """The sender will not send metainfo chunk `chunk`."""

    chunk: int

    def __post_init__(self) -> None:
        _uint("chunk", self.chunk, U32)


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    """Why the sender is closing the connection (code is an ErrorCode, unknown codes allowed)."""

    code: int
    reason: str = ""

    def __post_init__(self) -> None:
        _uint("code", self.code, U16)
        _text("reason", self.reason, MAX_REASON_LENGTH, "ERR-1")

    @classmethod
    def build(cls, code: int, reason: str) -> Error:
        """An Error with `reason` cut (at a character boundary) to MAX_REASON_LENGTH bytes."""
        cut = reason.encode("utf-8", "replace")[:MAX_REASON_LENGTH]
        return cls(code=code, reason=cut.decode("utf-8", "ignore"))

    @classmethod
    def from_exception(cls, err: ProtocolError) -> Error:
        """The Error frame to send after `err` (reason cites the spec requirement)."""
        return cls.build(err.code, f"[{err.requirement}] {err.reason}")


@dataclass(frozen=True, slots=True, kw_only=True)
class _SpanRef:
    index: int
    count: int

    def __post_init__(self) -> None:
        _uint("index", self.index, U32)
        _uint("count", self.count, U32)

    @property
    def span(self) -> tuple[int, int]:
        """(index, count): the key that matches a span request to its reply."""
        return (self.index, self.count)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanRequest(_SpanRef):
    """Extension SPAN: ask for whole pieces index..index+count-1; exactly one reply [SPAN-5]."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanReject(_SpanRef):
    """Extension SPAN: the reply to a span request that will not be served."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanCancel(_SpanRef):
    """Extension SPAN: the requester no longer needs the span; it still gets one reply."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanData:
    """Extension SPAN: the data of pieces index..index+count-1, concatenated [SPAN-8]."""

    index: int
    count: int
    data: bytes

    def __post_init__(self) -> None:
        _uint("index", self.index, U32)
        _uint("count", self.count, U32)
        _bytes("data", self.data, maximum=MAX_PIECE_DATA)

    @property
    def span(self) -> tuple[int, int]:
        return (self.index, self.count)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed:
    """Not a wire message: the peer closed its sending side (EOF at a frame boundary)."""


Event: TypeAlias = (
    Handshake
    | Bitfield
    | Have
    | Request
    | Piece
    | Reject
    | Cancel
    | Choke
    | Unchoke
    | Interested
    | NotInterested
    | Peers
    | MetainfoRequest
    | MetainfoData
    | MetainfoReject
    | Error
    | KeepAlive
    | SpanRequest
    | SpanData
    | SpanReject
    | SpanCancel
)
"""Any wire message."""

ReceivedEvent: TypeAlias = Event | ConnectionClosed
"""What next_event() can return besides NEED_DATA."""
