"""Raw frame builders, independent of the core codec.

The suite must be able to send what a correct encoder refuses to build (bad magic, a length
over the limit, spare bits set, 51 PEX entries), so it carries its own byte-level writer of
the wire format in spec/protocol.md. The core codec is used only to *read* the target's bytes.
"""

from __future__ import annotations

import ipaddress
import struct

from p2pshare_core import constants as C

HANDSHAKE = 0x00
BITFIELD = 0x01
HAVE = 0x02
REQUEST = 0x03
PIECE = 0x04
REJECT = 0x05
CANCEL = 0x06
CHOKE = 0x07
UNCHOKE = 0x08
INTERESTED = 0x09
NOT_INTERESTED = 0x0A
PEERS = 0x0B
METAINFO_REQUEST = 0x0C
METAINFO_DATA = 0x0D
METAINFO_REJECT = 0x0E
ERROR = 0x0F
SPAN_REQUEST = 0x10  # extension SPAN (spec 5.2): only where both handshakes set bit 0
SPAN_DATA = 0x11
SPAN_REJECT = 0x12
SPAN_CANCEL = 0x13
SPAN_BIT = 0x01

MESSAGE_NAMES: dict[int, str] = {
    HANDSHAKE: "handshake",
    BITFIELD: "bitfield",
    HAVE: "have",
    REQUEST: "request",
    PIECE: "piece",
    REJECT: "reject",
    CANCEL: "cancel",
    CHOKE: "choke",
    UNCHOKE: "unchoke",
    INTERESTED: "interested",
    NOT_INTERESTED: "not_interested",
    PEERS: "peers",
    METAINFO_REQUEST: "metainfo_request",
    METAINFO_DATA: "metainfo_data",
    METAINFO_REJECT: "metainfo_reject",
    ERROR: "error",
    SPAN_REQUEST: "span_request",
    SPAN_DATA: "span_data",
    SPAN_REJECT: "span_reject",
    SPAN_CANCEL: "span_cancel",
}

UNKNOWN_ID = 0x7E  # not assigned by the spec: extension space, must be skipped


def frame(message_id: int, payload: bytes = b"") -> bytes:
    """One frame: <4: length of id + payload><1: id><payload>."""
    return struct.pack(">IB", len(payload) + 1, message_id) + payload


def length_prefix(length: int) -> bytes:
    """Just a length field, for frames whose body we never intend to send."""
    return struct.pack(">I", length)


def keepalive() -> bytes:
    return b"\x00\x00\x00\x00"


def handshake(
    *,
    peer_id: bytes,
    listen_port: int,
    share_id: bytes,
    file_size: int,
    piece_size: int,
    file_sha1: bytes,
    name: str | bytes,
    magic: bytes = C.PROTOCOL_MAGIC,
    version: int = C.PROTOCOL_VERSION,
    flags: int = 0,
) -> bytes:
    raw_name = name.encode() if isinstance(name, str) else name
    payload = (
        magic
        + struct.pack(">BB", version, flags)
        + peer_id
        + struct.pack(">H", listen_port)
        + share_id
        + struct.pack(">QI", file_size, piece_size)
        + file_sha1
        + struct.pack(">H", len(raw_name))
        + raw_name
    )
    return frame(HANDSHAKE, payload)


def bitfield(bits: bytes) -> bytes:
    return frame(BITFIELD, bits)


def full_bitfield(piece_count: int) -> bytes:
    """Bits for a peer with every piece; spare bits zero."""
    data = bytearray(b"\xff" * ((piece_count + 7) // 8))
    spare = len(data) * 8 - piece_count
    if spare:
        data[-1] &= (0xFF << spare) & 0xFF
    return bytes(data)


def empty_bitfield(piece_count: int) -> bytes:
    return bytes((piece_count + 7) // 8)


def have(index: int) -> bytes:
    return frame(HAVE, struct.pack(">I", index))


def _triple(message_id: int, index: int, offset: int, length: int) -> bytes:
    return frame(message_id, struct.pack(">III", index, offset, length))


def request(index: int, offset: int, length: int) -> bytes:
    return _triple(REQUEST, index, offset, length)


def reject(index: int, offset: int, length: int) -> bytes:
    return _triple(REJECT, index, offset, length)


def cancel(index: int, offset: int, length: int) -> bytes:
    return _triple(CANCEL, index, offset, length)


def piece(index: int, offset: int, data: bytes) -> bytes:
    return frame(PIECE, struct.pack(">II", index, offset) + data)


def span_request(index: int, count: int) -> bytes:
    return frame(SPAN_REQUEST, struct.pack(">II", index, count))


def span_reject(index: int, count: int) -> bytes:
    return frame(SPAN_REJECT, struct.pack(">II", index, count))


def span_cancel(index: int, count: int) -> bytes:
    return frame(SPAN_CANCEL, struct.pack(">II", index, count))


def span_data(index: int, count: int, data: bytes) -> bytes:
    return frame(SPAN_DATA, struct.pack(">II", index, count) + data)


def choke() -> bytes:
    return frame(CHOKE)


def unchoke() -> bytes:
    return frame(UNCHOKE)


def interested() -> bytes:
    return frame(INTERESTED)


def not_interested() -> bytes:
    return frame(NOT_INTERESTED)


def peer_entry(peer_id: bytes, host: str, port: int, family: int | None = None) -> bytes:
    addr = ipaddress.ip_address(host)
    fam = family if family is not None else addr.version
    return peer_id + bytes([fam]) + addr.packed + struct.pack(">H", port)


def peers(entries: list[bytes], count: int | None = None) -> bytes:
    """A peers message from pre-built entries; `count` may lie about the number."""
    n = len(entries) if count is None else count
    return frame(PEERS, bytes([n & 0xFF]) + b"".join(entries))


def metainfo_request(chunk: int) -> bytes:
    return frame(METAINFO_REQUEST, struct.pack(">I", chunk))


def metainfo_data(chunk: int, total_size: int, data: bytes) -> bytes:
    return frame(METAINFO_DATA, struct.pack(">II", chunk, total_size) + data)


def metainfo_reject(chunk: int) -> bytes:
    return frame(METAINFO_REJECT, struct.pack(">I", chunk))


def error(code: int, reason: str | bytes = b"") -> bytes:
    raw = reason.encode() if isinstance(reason, str) else reason
    return frame(ERROR, struct.pack(">H", code) + raw)


def message_name(message_id: int) -> str:
    return MESSAGE_NAMES.get(message_id, f"unknown(0x{message_id:02x})")


def tree_metainfo(
    name: str,
    entries: list[tuple[int, str, int, bytes]],
    *,
    piece_size: int = C.DEFAULT_PIECE_SIZE,
    hashes: list[bytes] | None = None,
    entry_count: int | None = None,
) -> bytes:
    """A tree metainfo (spec 8.7) exactly as given: (kind, path, size, sha1) entries in this
    order, unchecked, so hostile trees (`..`, duplicates, collisions) can be built."""
    table = b"".join(
        struct.pack(">BQ20sH", kind, size, sha1, len(path.encode())) + path.encode()
        for kind, path, size, sha1 in entries
    )
    total = sum(size for _, _, size, _ in entries)
    count = len(entries) if entry_count is None else entry_count
    raw = name.encode()
    head = C.TREE_METAINFO_MAGIC + struct.pack(">BQIIH", 1, total, piece_size, count, len(raw))
    return head + raw + table + b"".join(hashes or [])


def tree_tag(metainfo_size: int) -> bytes:
    """The tree summary's stand-in for file_sha1: the metainfo size, then 16 zero bytes."""
    return struct.pack(">I", metainfo_size) + bytes(16)
