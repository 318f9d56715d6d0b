"""Wire codec: one `construct` declaration per message (the readable source of truth) plus
struct-based fast paths for the hot messages (piece, request, have, reject, cancel, the span
messages, and peers: a swarm sends one to every connection whenever its connected set changes).

`encode(event)` returns a whole frame ``<4: length><1: id><payload>``; `decode(id, payload)`
turns one frame's payload back into an event or raises RemoteProtocolError. The fast paths are
proven byte-identical to the declarations by a Hypothesis test (tests/test_codec.py), and
`encode_reference` / `decode_reference` expose the declaration-only path for that proof.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from construct import (
    Bytes,
    Const,
    Construct,
    ConstructError,
    GreedyBytes,
    GreedyString,
    Int8ub,
    Int16ub,
    Int32ub,
    Int64ub,
    PascalString,
    Prefixed,
    PrefixedArray,
    Struct,
    Switch,
    Terminated,
    this,
)
from construct import Error as ConstructFail

from .constants import (
    FILE_SHA1_LENGTH,
    PEER_ID_LENGTH,
    PIECE_HEADER_SIZE,
    PROTOCOL_MAGIC,
    PROTOCOL_VERSION,
    SHARE_ID_LENGTH,
)
from .errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from .events import (
    Bitfield,
    Cancel,
    Choke,
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
    ip_literal,
)

__all__ = [
    "FRAMES",
    "KEEPALIVE_FRAME",
    "MESSAGES",
    "MESSAGE_IDS",
    "PAYLOADS",
    "MessageFormat",
    "decode",
    "decode_from",
    "decode_reference",
    "encode",
    "encode_reference",
    "piece_header",
    "request_frame",
    "span_header",
    "span_request_frame",
]

Buffer = bytes | bytearray | memoryview

# --- declarations (CONTRACT "Framing" table) ------------------------------------------------

_BLOCK_REF = Struct("index" / Int32ub, "offset" / Int32ub, "length" / Int32ub, Terminated)
_SPAN_REF = Struct("index" / Int32ub, "count" / Int32ub, Terminated)
_EMPTY = Struct(Terminated)
_CHUNK = Struct("chunk" / Int32ub, Terminated)
_PEER_ENTRY = Struct(
    "peer_id" / Bytes(PEER_ID_LENGTH),
    "family" / Int8ub,
    "address" / Switch(this.family, {4: Bytes(4), 6: Bytes(16)}, default=ConstructFail),
    "port" / Int16ub,
)

PAYLOADS: Final[dict[int, Construct]] = {
    0x00: Struct(
        "magic" / Const(PROTOCOL_MAGIC),
        "version" / Int8ub,
        "flags" / Int8ub,
        "peer_id" / Bytes(PEER_ID_LENGTH),
        "listen_port" / Int16ub,
        "share_id" / Bytes(SHARE_ID_LENGTH),
        "file_size" / Int64ub,
        "piece_size" / Int32ub,
        "file_sha1" / Bytes(FILE_SHA1_LENGTH),
        "name" / PascalString(Int16ub, "utf8"),
        Terminated,
    ),
    0x01: Struct("bits" / GreedyBytes),
    0x02: Struct("index" / Int32ub, Terminated),
    0x03: _BLOCK_REF,
    0x04: Struct("index" / Int32ub, "offset" / Int32ub, "data" / GreedyBytes),
    0x05: _BLOCK_REF,
    0x06: _BLOCK_REF,
    0x07: _EMPTY,
    0x08: _EMPTY,
    0x09: _EMPTY,
    0x0A: _EMPTY,
    0x0B: Struct("entries" / PrefixedArray(Int8ub, _PEER_ENTRY), Terminated),
    0x0C: _CHUNK,
    0x0D: Struct("chunk" / Int32ub, "total_size" / Int32ub, "data" / GreedyBytes),
    0x0E: _CHUNK,
    0x0F: Struct("code" / Int16ub, "reason" / GreedyString("utf8")),
    # extension SPAN (spec 5.2): only decoded where it is in force (Connection checks)
    0x10: _SPAN_REF,
    0x11: Struct("index" / Int32ub, "count" / Int32ub, "data" / GreedyBytes),
    0x12: _SPAN_REF,
    0x13: _SPAN_REF,
}
"""Payload layout of every message, by id."""

FRAMES: Final[dict[int, Construct]] = {
    message_id: Prefixed(Int32ub, Struct("id" / Const(message_id, Int8ub), "body" / payload))
    for message_id, payload in PAYLOADS.items()
}
"""Whole frame (length prefix + id + payload) of every message, by id."""


# --- event <-> construct field conversion ---------------------------------------------------


def _peers_to_fields(event: Any) -> dict[str, Any]:
    return {
        "entries": [
            {
                "peer_id": e.peer_id,
                "family": e.family,
                "address": ip_literal(e.host).packed,
                "port": e.port,
            }
            for e in event.entries
        ]
    }


def _peers_from_fields(fields: Any) -> Peers:
    return Peers(
        entries=tuple(
            PeerEntry(peer_id=e.peer_id, host=str(ip_literal(e.address)), port=e.port)
            for e in fields.entries
        )
    )


@dataclass(frozen=True, slots=True)
class MessageFormat:
    """One row of the message table: id, spec name, event class, field names."""

    message_id: int
    name: str
    event_type: type[Any]
    fields: tuple[str, ...]
    to_fields: Callable[[Any], dict[str, Any]] | None = None
    from_fields: Callable[[Any], Any] | None = None

    @property
    def payload(self) -> Construct:
        return PAYLOADS[self.message_id]

    def build_fields(self, event: Any) -> dict[str, Any]:
        if self.to_fields is not None:
            return self.to_fields(event)
        return {name: getattr(event, name) for name in self.fields}

    def make_event(self, parsed: Any) -> Any:
        if self.from_fields is not None:
            return self.from_fields(parsed)
        return self.event_type(**{name: parsed[name] for name in self.fields})


_BLOCK_FIELDS = ("index", "offset", "length")
_SPAN_FIELDS = ("index", "count")
MESSAGES: Final[dict[int, MessageFormat]] = {
    m.message_id: m
    for m in (
        MessageFormat(
            0x00,
            "handshake",
            Handshake,
            (
                "version",
                "flags",
                "peer_id",
                "listen_port",
                "share_id",
                "file_size",
                "piece_size",
                "file_sha1",
                "name",
            ),
        ),
        MessageFormat(0x01, "bitfield", Bitfield, ("bits",)),
        MessageFormat(0x02, "have", Have, ("index",)),
        MessageFormat(0x03, "request", Request, _BLOCK_FIELDS),
        MessageFormat(0x04, "piece", Piece, ("index", "offset", "data")),
        MessageFormat(0x05, "reject", Reject, _BLOCK_FIELDS),
        MessageFormat(0x06, "cancel", Cancel, _BLOCK_FIELDS),
        MessageFormat(0x07, "choke", Choke, ()),
        MessageFormat(0x08, "unchoke", Unchoke, ()),
        MessageFormat(0x09, "interested", Interested, ()),
        MessageFormat(0x0A, "not_interested", NotInterested, ()),
        MessageFormat(0x0B, "peers", Peers, ("entries",), _peers_to_fields, _peers_from_fields),
        MessageFormat(0x0C, "metainfo_request", MetainfoRequest, ("chunk",)),
        MessageFormat(0x0D, "metainfo_data", MetainfoData, ("chunk", "total_size", "data")),
        MessageFormat(0x0E, "metainfo_reject", MetainfoReject, ("chunk",)),
        MessageFormat(0x0F, "error", Error, ("code", "reason")),
        MessageFormat(0x10, "span_request", SpanRequest, _SPAN_FIELDS),
        MessageFormat(0x11, "span_data", SpanData, ("index", "count", "data")),
        MessageFormat(0x12, "span_reject", SpanReject, _SPAN_FIELDS),
        MessageFormat(0x13, "span_cancel", SpanCancel, _SPAN_FIELDS),
    )
}
"""The message table, by id (docs render it)."""

MESSAGE_IDS: Final[dict[type[Any], int]] = {m.event_type: m.message_id for m in MESSAGES.values()}
"""Wire id of every event class (KeepAlive has none: it is the empty frame)."""

KEEPALIVE_FRAME: Final = b"\x00\x00\x00\x00"

# --- reference (declaration-only) path --------------------------------------------------------


def encode_reference(event: Event) -> bytes:
    """Encode using only the construct declarations (slow; the definition of correct)."""
    if isinstance(event, KeepAlive):
        return KEEPALIVE_FRAME
    fmt = MESSAGES[MESSAGE_IDS[type(event)]]
    data: bytes = FRAMES[fmt.message_id].build({"body": fmt.build_fields(event)})
    return data


# The requirement a payload that does not match its layout breaks, when more specific than FRAME-7.
_LAYOUT_REQUIREMENT: Final = {0x00: "HS-4", 0x0B: "PEX-3", 0x0F: "ERR-2"}


def _malformed(message_id: int, reason: str) -> RemoteProtocolError:
    requirement = _LAYOUT_REQUIREMENT.get(message_id, "FRAME-7")
    if message_id == 0x00:
        return RemoteProtocolError(ErrorCode.BAD_HANDSHAKE, requirement, reason)
    return RemoteProtocolError(ErrorCode.MALFORMED, requirement, reason)


def _check_handshake_prefix(payload: bytes) -> None:
    """Magic first (HS-2), then version (HS-3), before the rest of the layout (HS-4)."""
    if payload[:4] != PROTOCOL_MAGIC:
        raise RemoteProtocolError(
            ErrorCode.BAD_HANDSHAKE, "HS-2", f"handshake magic is {payload[:4]!r}, not b'P2PS'"
        )
    if len(payload) < 5:
        raise RemoteProtocolError(ErrorCode.BAD_HANDSHAKE, "HS-3", "handshake has no version")
    if payload[4] != PROTOCOL_VERSION:
        raise RemoteProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            "HS-3",
            f"protocol version {payload[4]} is not supported (this is version {PROTOCOL_VERSION})",
        )


def decode_reference(message_id: int, payload: Buffer) -> Event:
    """Decode using only the construct declarations (slow; the definition of correct)."""
    fmt = MESSAGES.get(message_id)
    if fmt is None:
        raise ValueError(f"unknown message id {message_id:#04x} (skip such frames)")
    data = bytes(payload)
    if message_id == 0x00:
        _check_handshake_prefix(data)
    try:
        parsed = fmt.payload.parse(data)
    except ConstructError as err:
        raise _malformed(
            message_id, f"bad {fmt.name} payload ({len(data)} bytes): {' '.join(str(err).split())}"
        ) from None
    try:
        event: Event = fmt.make_event(parsed)
    except LocalProtocolError as err:  # e.g. an error reason over MAX_REASON_LENGTH (ERR-2)
        raise _malformed(message_id, err.reason) from None
    return event


# --- fast paths ----------------------------------------------------------------------------

_U32 = struct.Struct(">I")
_HAVE_FRAME = struct.Struct(">IBI")
_BLOCK_FRAME = struct.Struct(">IBIII")
_PIECE_HEADER = struct.Struct(">IBII")
_TWO_U32 = struct.Struct(">II")
_THREE_U32 = struct.Struct(">III")
assert _PIECE_HEADER.size == PIECE_HEADER_SIZE

_REQUEST_ID: Final = 0x03
_PIECE_ID: Final = 0x04
_REJECT_ID: Final = 0x05
_CANCEL_ID: Final = 0x06
_HAVE_ID: Final = 0x02
_SPAN_REQUEST_ID: Final = 0x10
_SPAN_DATA_ID: Final = 0x11
_SPAN_FRAME = struct.Struct(">IBII")
_SPAN_REFS: Final[dict[int, type[SpanRequest | SpanReject | SpanCancel]]] = {
    0x10: SpanRequest,
    0x12: SpanReject,
    0x13: SpanCancel,
}
_PEERS_ID: Final = 0x0B
_U16 = struct.Struct(">H")
_PEERS_HEAD = struct.Struct(">IBB")  # frame length, id, entry count
_ENTRY_HEAD = PEER_ID_LENGTH + 1  # peer_id, family
_ADDRESS_LENGTH: Final = {4: 4, 6: 16}  # family -> address bytes (PEX-3)


@functools.lru_cache(maxsize=4096)
def _wire_address(host: str) -> bytes:
    """family byte + packed address of a (valid) IP literal, as a peers entry carries them."""
    address = ip_literal(host)
    return bytes((address.version,)) + address.packed


@functools.lru_cache(maxsize=4096)
def _host_of(packed: bytes) -> str:
    """The normalised IP literal of a packed IPv4 (4 bytes) or IPv6 (16 bytes) address."""
    return str(ip_literal(packed))


def _encode_peers(event: Peers) -> bytes:
    entries = event.entries
    body = b"".join([e.peer_id + _wire_address(e.host) + _U16.pack(e.port) for e in entries])
    return _PEERS_HEAD.pack(len(body) + 2, _PEERS_ID, len(entries)) + body


def _decode_peers(buffer: Buffer, start: int, end: int) -> Peers:
    """The peers payload buffer[start:end], as the construct declaration reads it (PEX-3)."""
    if start >= end:
        raise _malformed(_PEERS_ID, "peers payload is empty, needs an entry count")
    count = buffer[start]
    pos = start + 1
    entries = []
    for n in range(count):
        head = pos + _ENTRY_HEAD
        size = _ADDRESS_LENGTH.get(buffer[head - 1]) if head <= end else None
        if size is None or head + size + 2 > end:
            raise _malformed(_PEERS_ID, f"peers entry {n} of {count} is truncated or malformed")
        peer_id = bytes(buffer[pos : head - 1])
        host = _host_of(bytes(buffer[head : head + size]))
        (port,) = _U16.unpack_from(buffer, head + size)
        entries.append(PeerEntry(peer_id=peer_id, host=host, port=port))
        pos = head + size + 2
    if pos != end:
        extra = end - pos
        raise _malformed(_PEERS_ID, f"peers payload has {extra} bytes after its {count} entries")
    return Peers(entries=tuple(entries))


def piece_header(index: int, offset: int, length: int) -> bytes:
    """The 13 bytes preceding `length` bytes of piece data (for sendfile-style zero-copy)."""
    return _PIECE_HEADER.pack(length + 9, _PIECE_ID, index, offset)


def request_frame(index: int, offset: int, length: int) -> bytes:
    """The whole request frame for one block (Connection.send_requests' path)."""
    return _BLOCK_FRAME.pack(13, _REQUEST_ID, index, offset, length)


def span_header(index: int, count: int, length: int) -> bytes:
    """The 13 bytes preceding the `length` data bytes of span (index, count) [SPAN-5]."""
    return _SPAN_FRAME.pack(length + 9, _SPAN_DATA_ID, index, count)


def span_request_frame(index: int, count: int) -> bytes:
    """The whole span_request frame for pieces index..index+count-1."""
    return _SPAN_FRAME.pack(9, _SPAN_REQUEST_ID, index, count)


def encode(event: Event) -> bytes:
    """Encode `event` as one whole frame (length prefix included)."""
    kind = type(event)
    if kind is Piece:
        assert isinstance(event, Piece)
        data = event.data
        return _PIECE_HEADER.pack(len(data) + 9, _PIECE_ID, event.index, event.offset) + data
    if kind is Request or kind is Reject or kind is Cancel:
        assert isinstance(event, Request | Reject | Cancel)
        return _BLOCK_FRAME.pack(13, MESSAGE_IDS[kind], event.index, event.offset, event.length)
    if kind is Have:
        assert isinstance(event, Have)
        return _HAVE_FRAME.pack(5, _HAVE_ID, event.index)
    if kind is SpanRequest or kind is SpanReject or kind is SpanCancel:
        assert isinstance(event, SpanRequest | SpanReject | SpanCancel)
        return _SPAN_FRAME.pack(9, MESSAGE_IDS[kind], event.index, event.count)
    if kind is SpanData:
        assert isinstance(event, SpanData)
        return span_header(event.index, event.count, len(event.data)) + event.data
    if kind is Peers:
        assert isinstance(event, Peers)
        return _encode_peers(event)
    return encode_reference(event)


def _copy(buffer: Buffer, start: int, end: int) -> bytes:
    """bytes of buffer[start:end] with exactly one copy (no intermediate bytearray)."""
    with memoryview(buffer) as view:
        return view[start:end].tobytes()


def decode_from(message_id: int, buffer: Buffer, start: int, end: int) -> Event:
    """Decode the payload buffer[start:end] without copying it first (Connection's hot path)."""
    size = end - start
    if message_id == _PIECE_ID:
        if size < 8:
            raise _malformed(message_id, f"piece payload is {size} bytes, needs >= 8")
        index, offset = _TWO_U32.unpack_from(buffer, start)
        return Piece(index=index, offset=offset, data=_copy(buffer, start + 8, end))
    if _REQUEST_ID <= message_id <= _CANCEL_ID:  # request, reject, cancel (piece done above)
        if size != 12:
            raise _malformed(message_id, f"{MESSAGES[message_id].name} payload is {size} bytes")
        index, offset, length = _THREE_U32.unpack_from(buffer, start)
        kind = (
            Request if message_id == _REQUEST_ID else Reject if message_id == _REJECT_ID else Cancel
        )
        return kind(index=index, offset=offset, length=length)
    if message_id in _SPAN_REFS:  # span_request, span_reject, span_cancel
        if size != 8:
            raise _malformed(message_id, f"{MESSAGES[message_id].name} payload is {size} bytes")
        index, count = _TWO_U32.unpack_from(buffer, start)
        return _SPAN_REFS[message_id](index=index, count=count)
    if message_id == _SPAN_DATA_ID:
        if size < 8:
            raise _malformed(message_id, f"span_data payload is {size} bytes, needs >= 8")
        index, count = _TWO_U32.unpack_from(buffer, start)
        return SpanData(index=index, count=count, data=_copy(buffer, start + 8, end))
    if message_id == _HAVE_ID:
        if size != 4:
            raise _malformed(message_id, f"have payload is {size} bytes, needs 4")
        return Have(index=_U32.unpack_from(buffer, start)[0])
    if message_id == _PEERS_ID:
        return _decode_peers(buffer, start, end)
    return decode_reference(message_id, _copy(buffer, start, end))


def decode(message_id: int, payload: Buffer) -> Event:
    """Decode one frame's payload; RemoteProtocolError (with code and spec ID) if malformed."""
    return decode_from(message_id, payload, 0, len(payload))
