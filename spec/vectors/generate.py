"""Generate the language-neutral p2pshare test vectors (frames, metainfo, links, names).

Why a separate generator: it builds every byte with `struct` and `hashlib` only, straight from
spec/protocol.md, never importing p2pshare_core, so the vectors check the core codec instead of
echoing it. Run `python spec/vectors/generate.py` to rewrite the JSON files next to this script;
the output is deterministic (no randomness, sorted keys).
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent

# --- constants (spec Section 2) -------------------------------------------------------------
MAX_FRAME_LENGTH = 1_048_576
MAX_BLOCK_LENGTH = 262_144
MIN_PIECE_SIZE = 16_384
DEFAULT_PIECE_SIZE = 65_536
MAX_PIECE_SIZE = 67_108_864
MAX_PIECES = 131_072
MAX_FILE_SIZE = MAX_PIECES * MAX_PIECE_SIZE
MAX_PEER_REQUESTS = 512
MAX_REASON_LENGTH = 1024
METAINFO_CHUNK_SIZE = 65_536
MAX_METAINFO_SIZE = 39 + 255 + 32 * MAX_PIECES

ERRORS = {
    "MALFORMED": 1, "FRAME_TOO_LARGE": 2, "UNEXPECTED_MESSAGE": 3, "BAD_HANDSHAKE": 4,
    "UNSUPPORTED_VERSION": 5, "SHARE_MISMATCH": 6, "OUT_OF_RANGE": 7, "UNSOLICITED": 8,
    "TOO_MANY_REQUESTS": 9, "PEX_VIOLATION": 10, "DUPLICATE_CONNECTION": 11,
    "SELF_CONNECTION": 12, "BAD_METAINFO": 13, "TIMEOUT": 14, "BANNED": 15, "SHUTDOWN": 16,
    "TOO_MANY_CONNECTIONS": 17, "TRUNCATED": 18,
}  # fmt: skip

# --- byte builders ------------------------------------------------------------------------


def frame(message_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">IB", 1 + len(payload), message_id) + payload


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def content(size: int) -> bytes:
    """The vectors' file content: byte i is i mod 251 (a prime, so pieces differ)."""
    pattern = bytes(range(251))
    return (pattern * (size // 251 + 1))[:size]


def metainfo_bytes(
    name: bytes, file_size: int, piece_size: int, sha1: bytes, hashes: list[bytes]
) -> bytes:
    header = b"P2PM" + struct.pack(">BQI20sH", 1, file_size, piece_size, sha1, len(name))
    return header + name + b"".join(hashes)


class Share:
    """A share built from `content(size)`; every derived value computed here, independently."""

    def __init__(self, key: str, name: str, size: int, piece_size: int) -> None:
        self.key, self.name, self.size, self.piece_size = key, name, size, piece_size
        data = content(size)
        self.n = ceil_div(size, piece_size)
        self.hashes = [
            hashlib.sha256(data[i * piece_size : (i + 1) * piece_size]).digest()
            for i in range(self.n)
        ]
        self.sha1 = hashlib.sha1(data).digest()
        self.meta = metainfo_bytes(name.encode(), size, piece_size, self.sha1, self.hashes)
        self.share_id = hashlib.sha256(self.meta).digest()

    def piece_length(self, i: int) -> int:
        return min(self.piece_size, self.size - i * self.piece_size)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file_size": self.size,
            "piece_size": self.piece_size,
            "file_sha1": self.sha1.hex(),
            "share_id": self.share_id.hex(),
            "piece_count": self.n,
            "metainfo_size": len(self.meta),
        }


EXAMPLE = Share("example-1mb", "example.bin", 1_000_000, 16_384)  # n = 62, last piece 576
THEIR_ID = bytes(range(1, 21))
OUR_ID = b"\xaa" * 20


def handshake_payload(
    share: Share | None = None,
    *,
    peer_id: bytes = THEIR_ID,
    port: int = 6881,
    magic: bytes = b"P2PS",
    version: int = 1,
    flags: int = 0,
    share_id: bytes | None = None,
    file_size: int | None = None,
    piece_size: int | None = None,
    sha1: bytes | None = None,
    name: bytes | None = None,
    name_len: int | None = None,
) -> bytes:
    s = share or EXAMPLE
    name = s.name.encode() if name is None else name
    return (
        magic
        + struct.pack(">BB20sH", version, flags, peer_id, port)
        + (s.share_id if share_id is None else share_id)
        + struct.pack(
            ">QI20sH",
            s.size if file_size is None else file_size,
            s.piece_size if piece_size is None else piece_size,
            s.sha1 if sha1 is None else sha1,
            len(name) if name_len is None else name_len,
        )
        + name
    )


def handshake_message(payload: bytes) -> dict[str, Any]:
    """Decode a handshake payload by hand (for the expected "message" of valid vectors)."""
    version, flags, peer_id, port = struct.unpack_from(">BB20sH", payload, 4)
    share_id = payload[28:60]
    file_size, piece_size, sha1, name_len = struct.unpack_from(">QI20sH", payload, 60)
    return {
        "type": "handshake",
        "version": version,
        "flags": flags,
        "peer_id": peer_id.hex(),
        "listen_port": port,
        "share_id": share_id.hex(),
        "file_size": file_size,
        "piece_size": piece_size,
        "file_sha1": sha1.hex(),
        "name": payload[94 : 94 + name_len].decode(),
    }


def bitfield_bytes(n: int, have: set[int]) -> bytes:
    bits = bytearray(ceil_div(n, 8))
    for i in have:
        bits[i // 8] |= 0x80 >> (i % 8)
    return bytes(bits)


def block(message_id: int, index: int, offset: int, length: int) -> bytes:
    return frame(message_id, struct.pack(">III", index, offset, length))


def request(i: int, o: int, n: int) -> bytes:
    return block(0x03, i, o, n)


def piece(i: int, o: int, data: bytes) -> bytes:
    return frame(0x04, struct.pack(">II", i, o) + data)


def have(i: int) -> bytes:
    return frame(0x02, struct.pack(">I", i))


def peer_entry(peer_id: bytes, family: int, address: bytes, port: int) -> bytes:
    return peer_id + bytes([family]) + address + struct.pack(">H", port)


def peers(entries: list[bytes], count: int | None = None) -> bytes:
    return frame(0x0B, bytes([len(entries) if count is None else count]) + b"".join(entries))


def error_frame(code: int, reason: bytes) -> bytes:
    return frame(0x0F, struct.pack(">H", code) + reason)


# --- connection contexts --------------------------------------------------------------------

OUR_HANDSHAKE = handshake_message(handshake_payload(peer_id=OUR_ID, port=7000))
OUR_BITFIELD = {"type": "bitfield", "bits": bitfield_bytes(EXAMPLE.n, set()).hex()}
THEIR_HS = frame(0x00, handshake_payload())
THEIR_BF = frame(0x01, bitfield_bytes(EXAMPLE.n, set(range(EXAMPLE.n))))
GEOMETRY = {"file_size": EXAMPLE.size, "piece_size": EXAMPLE.piece_size}


def ctx(
    state: str,
    *,
    role: str = "acceptor",
    known_share_id: bytes | None = EXAMPLE.share_id,
    sent: list[dict[str, Any]] | None = None,
    received: bytes = b"",
    eof: bool = False,
    flags: int = 0,
    sent_after: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A connection context: what happened on the connection before the vector's bytes.

    acceptor: we sent our handshake + bitfield first (HS-11); dialer: we sent nothing yet.
    `state` is the peer's (receive-side) state the vector's bytes arrive in.
    """
    our_hs, their_hs = OUR_HANDSHAKE, THEIR_HS
    if flags:  # both sides offer these capabilities (spec 5.1)
        our_hs = handshake_message(handshake_payload(peer_id=OUR_ID, port=7000, flags=flags))
        their_hs = frame(0x00, handshake_payload(flags=flags))
    base_sent: list[dict[str, Any]] = [our_hs, OUR_BITFIELD] if role == "acceptor" else []
    base_received = {"HANDSHAKE": b"", "BITFIELD": their_hs, "ACTIVE": their_hs + THEIR_BF}[state]
    out: dict[str, Any] = {
        "state": state,
        "role": role,
        "known_share_id": known_share_id.hex() if known_share_id else None,
        "sent": base_sent + (sent or []),
        "received_hex": (base_received + received).hex(),
        "eof": eof,
    }
    if sent_after:
        out["sent_after"] = sent_after
    if state != "HANDSHAKE" or role == "acceptor":
        out.update(GEOMETRY)
    return out


def msg_request(i: int, o: int, n: int, kind: str = "request") -> dict[str, Any]:
    return {"type": kind, "index": i, "offset": o, "length": n}


# --- frames.json ----------------------------------------------------------------------------
SPAN_BIT = 0x01  # capability bit of extension SPAN (spec 5.2)
MAX_SPAN_LENGTH = 524_288


def span_ref(message_id: int, index: int, count: int) -> bytes:
    return frame(message_id, struct.pack(">II", index, count))


def msg_span(index: int, count: int, kind: str = "span_request") -> dict[str, Any]:
    return {"type": kind, "index": index, "count": count}


def build_span_frames() -> None:
    """Extension SPAN (spec 5.2), with the bit in force and without it."""
    ex = EXAMPLE
    span = ctx("ACTIVE", flags=SPAN_BIT)
    have3 = frame(0x02, struct.pack(">I", 3))
    for name, data in (
        ("span-request", span_ref(0x10, 0, 2)),
        ("span-reject", span_ref(0x12, 0, 2)),
        ("span-cancel", span_ref(0x13, 0, 2)),
        ("span-data", frame(0x11, struct.pack(">II", 0, 1) + content(ex.piece_size))),
    ):
        valid(
            f"{name}-skipped-without-span",
            "SPAN-1",
            data + have3,
            {"type": "have", "index": 3},
            ctx("ACTIVE"),
        )
    valid(
        "span-request-skipped-when-only-we-offer-span",
        "SPAN-1",
        span_ref(0x10, 0, 2) + have3,
        {"type": "have", "index": 3},
        ctx("ACTIVE", sent=[])
        | {
            "sent": [
                handshake_message(handshake_payload(peer_id=OUR_ID, port=7000, flags=SPAN_BIT)),
                OUR_BITFIELD,
            ]
        },
    )
    valid("span-request-example", "SPAN-2", span_ref(0x10, 4, 3), msg_span(4, 3), span)
    last = ex.n - 1
    valid(
        "span-request-to-the-short-last-piece",
        "SPAN-2",
        span_ref(0x10, last - 1, 2),
        msg_span(last - 1, 2),
        span,
    )
    most = MAX_SPAN_LENGTH // ex.piece_size
    valid(
        f"span-request-{most}-pieces-max-length",
        "SPAN-2",
        span_ref(0x10, 0, most),
        msg_span(0, most),
        span,
    )
    invalid(
        f"span-request-{most + 1}-pieces-too-long",
        "SPAN-2",
        span_ref(0x10, 0, most + 1),
        "OUT_OF_RANGE",
        span,
    )
    invalid("span-request-count-0", "SPAN-2", span_ref(0x10, 0, 0), "OUT_OF_RANGE", span)
    invalid("span-request-past-the-end", "SPAN-2", span_ref(0x10, last, 2), "OUT_OF_RANGE", span)
    invalid("span-request-index-n", "SPAN-2", span_ref(0x10, ex.n, 1), "OUT_OF_RANGE", span)
    invalid("span-cancel-out-of-range", "SPAN-2", span_ref(0x13, 0, 0), "OUT_OF_RANGE", span)
    invalid("span-request-payload-7-bytes", "FRAME-7", frame(0x10, bytes(7)), "MALFORMED", span)
    invalid("span-data-payload-7-bytes", "FRAME-7", frame(0x11, bytes(7)), "MALFORMED", span)
    invalid(
        "span-request-overlapping-outstanding",
        "SPAN-4",
        span_ref(0x10, 5, 2),
        "UNEXPECTED_MESSAGE",
        ctx("ACTIVE", flags=SPAN_BIT, received=span_ref(0x10, 4, 2)),
    )
    valid(
        "span-request-beside-outstanding-block-request",
        "SPAN-4",
        span_ref(0x10, 4, 2),
        msg_span(4, 2),
        ctx("ACTIVE", flags=SPAN_BIT, received=block(0x03, 4, 0, 100)),
    )
    blocks = b"".join(block(0x03, 0, o, 1) for o in range(510))
    invalid(
        "span-request-513th-too-many",
        "SPAN-3",
        span_ref(0x10, 1, 3),
        "TOO_MANY_REQUESTS",
        ctx("ACTIVE", flags=SPAN_BIT, received=blocks),
    )
    valid(
        "span-request-512th-allowed",
        "SPAN-3",
        span_ref(0x10, 1, 2),
        msg_span(1, 2),
        ctx("ACTIVE", flags=SPAN_BIT, received=blocks),
    )
    asked = ctx("ACTIVE", flags=SPAN_BIT, sent_after=[msg_span(last - 1, 2)])
    tail = content(ex.size)[(last - 1) * ex.piece_size :]
    valid(
        "span-data-answers-our-span",
        "SPAN-7",
        frame(0x11, struct.pack(">II", last - 1, 2) + tail),
        {"type": "span_data", "index": last - 1, "count": 2, "data": tail.hex()},
        asked,
    )
    valid(
        "span-reject-answers-our-span",
        "SPAN-7",
        span_ref(0x12, last - 1, 2),
        msg_span(last - 1, 2, "span_reject"),
        asked,
    )
    invalid(
        "span-data-one-byte-short",
        "SPAN-7",
        frame(0x11, struct.pack(">II", last - 1, 2) + tail[:-1]),
        "MALFORMED",
        asked,
    )
    invalid(
        "span-data-unsolicited",
        "SPAN-7",
        frame(0x11, struct.pack(">II", 0, 1) + content(ex.piece_size)),
        "UNSOLICITED",
        span,
    )
    invalid("span-reject-other-count", "SPAN-7", span_ref(0x12, last - 1, 1), "UNSOLICITED", asked)
    invalid(
        "span-data-as-piece-does-not-answer",
        "MSG-10",
        piece(last - 1, 0, content(ex.size)[(last - 1) * ex.piece_size : last * ex.piece_size]),
        "UNSOLICITED",
        asked,
    )
    valid(
        "span-cancel-not-outstanding-ignored",
        "SPAN-9",
        span_ref(0x13, 7, 2),
        msg_span(7, 2, "span_cancel"),
        span,
    )
    invalid(
        "span-request-before-bitfield",
        "STATE-2",
        span_ref(0x10, 0, 1),
        "UNEXPECTED_MESSAGE",
        ctx("BITFIELD", flags=SPAN_BIT),
    )


FRAMES: list[dict[str, Any]] = []


def valid(name: str, req: str, data: bytes, message: dict[str, Any], context: Any = None) -> None:
    v: dict[str, Any] = {"name": name, "requirement": req, "hex": data.hex(), "message": message}
    if context is not None:
        v["context"] = context
    FRAMES.append(v)


def invalid(name: str, req: str, data: bytes, error: str, context: Any = None) -> None:
    assert error in ERRORS
    v: dict[str, Any] = {"name": name, "requirement": req, "hex": data.hex(), "error": error}
    if context is not None:
        v["context"] = context
    FRAMES.append(v)


def build_frames() -> None:
    active = ctx("ACTIVE")
    ex = EXAMPLE
    last = ex.n - 1  # 61, 576 bytes

    # framing
    valid("keepalive", "FRAME-2", b"\0\0\0\0", {"type": "keepalive"}, active)
    valid(
        "keepalive-in-bitfield-state",
        "FRAME-2",
        b"\0\0\0\0",
        {"type": "keepalive"},
        ctx("BITFIELD"),
    )
    invalid(
        "keepalive-before-handshake",
        "STATE-2",
        b"\0\0\0\0",
        "UNEXPECTED_MESSAGE",
        ctx("HANDSHAKE", role="dialer"),
    )
    invalid(
        "length-over-max-prefix-only",
        "FRAME-3",
        struct.pack(">I", MAX_FRAME_LENGTH + 1),
        "FRAME_TOO_LARGE",
        active,
    )
    invalid(
        "length-ffffffff-before-handshake",
        "FRAME-3",
        b"\xff\xff\xff\xff",
        "FRAME_TOO_LARGE",
        ctx("HANDSHAKE", role="dialer"),
    )
    invalid(
        "http-request-is-too-large",
        "FRAME-3",
        b"GET / HTTP/1.1\r\n",
        "FRAME_TOO_LARGE",
        ctx("HANDSHAKE", role="acceptor"),
    )
    invalid(
        "unknown-id-over-max",
        "FRAME-3",
        struct.pack(">IB", MAX_FRAME_LENGTH + 1, 0x42),
        "FRAME_TOO_LARGE",
        active,
    )
    valid(
        "unknown-id-skipped",
        "FRAME-5",
        frame(0x10, b"ext") + have(3),
        {"type": "have", "index": 3},
        active,
    )
    valid(
        "unknown-id-ff-empty-skipped",
        "FRAME-5",
        frame(0xFF) + b"\0\0\0\0",
        {"type": "keepalive"},
        active,
    )
    valid(
        "unknown-id-skipped-before-handshake",
        "FRAME-5",
        frame(0x7F, b"x" * 100) + THEIR_HS,
        handshake_message(handshake_payload()),
        ctx("HANDSHAKE", role="dialer"),
    )
    valid(
        "unknown-id-skipped-in-bitfield-state",
        "FRAME-5",
        frame(0x20, b"\0") + THEIR_BF,
        {"type": "bitfield", "bits": THEIR_BF[5:].hex()},
        ctx("BITFIELD"),
    )
    invalid("eof-inside-length-prefix", "FRAME-8", b"\0\0", "TRUNCATED", ctx("ACTIVE", eof=True))
    invalid("eof-inside-have", "FRAME-8", have(3)[:-1], "TRUNCATED", ctx("ACTIVE", eof=True))
    invalid(
        "eof-inside-skipped-unknown-frame",
        "FRAME-8",
        frame(0x30, b"abcdef")[:-2],
        "TRUNCATED",
        ctx("ACTIVE", eof=True),
    )
    invalid(
        "eof-inside-handshake",
        "FRAME-8",
        THEIR_HS[:50],
        "TRUNCATED",
        ctx("HANDSHAKE", role="dialer", eof=True),
    )
    valid(
        "eof-at-frame-boundary",
        "FRAME-8",
        b"",
        {"type": "connection_closed"},
        ctx("ACTIVE", eof=True),
    )
    invalid("have-payload-3-bytes", "FRAME-7", frame(0x02, b"\0\0\3"), "MALFORMED")
    invalid("have-payload-5-bytes", "FRAME-7", frame(0x02, b"\0\0\0\3\0"), "MALFORMED")
    invalid("request-payload-11-bytes", "FRAME-7", frame(0x03, bytes(11)), "MALFORMED")
    invalid("cancel-payload-13-bytes", "FRAME-7", frame(0x06, bytes(13)), "MALFORMED")
    invalid("piece-payload-7-bytes", "FRAME-7", frame(0x04, bytes(7)), "MALFORMED")
    invalid("choke-with-payload", "FRAME-7", frame(0x07, b"\0"), "MALFORMED")
    invalid("interested-with-payload", "FRAME-7", frame(0x09, b"xx"), "MALFORMED")
    invalid("metainfo-request-payload-5-bytes", "FRAME-7", frame(0x0C, bytes(5)), "MALFORMED")
    invalid("metainfo-data-payload-7-bytes", "FRAME-7", frame(0x0D, bytes(7)), "MALFORMED")

    # handshake
    hs = handshake_payload()
    valid("handshake-example", "HS-1", frame(0x00, hs), handshake_message(hs))
    hs2 = handshake_payload(port=0, name="Ünïcødé 文件.bin".encode(), peer_id=b"\xff" * 20)
    valid("handshake-not-listening-unicode-name", "HS-8", frame(0x00, hs2), handshake_message(hs2))
    hs3 = handshake_payload(flags=0xA5)
    valid("handshake-flags-ignored", "HS-5", frame(0x00, hs3), handshake_message(hs3))
    empty = Share("empty", "empty.dat", 0, DEFAULT_PIECE_SIZE)
    hs4 = handshake_payload(empty)
    valid("handshake-empty-file", "HS-1", frame(0x00, hs4), handshake_message(hs4))
    invalid(
        "handshake-bad-magic",
        "HS-2",
        frame(0x00, handshake_payload(magic=b"P2PX")),
        "BAD_HANDSHAKE",
    )
    invalid(
        "handshake-bittorrent-magic",
        "HS-2",
        frame(0x00, b"\x13BitTorrent protocol" + bytes(40)),
        "BAD_HANDSHAKE",
    )
    invalid("handshake-payload-3-bytes", "HS-2", frame(0x00, b"P2P"), "BAD_HANDSHAKE")
    invalid("handshake-magic-only", "HS-3", frame(0x00, b"P2PS"), "BAD_HANDSHAKE")
    invalid(
        "handshake-version-2",
        "HS-3",
        frame(0x00, handshake_payload(version=2)),
        "UNSUPPORTED_VERSION",
    )
    invalid(
        "handshake-version-0",
        "HS-3",
        frame(0x00, handshake_payload(version=0)),
        "UNSUPPORTED_VERSION",
    )
    invalid(
        "handshake-version-2-other-layout",
        "HS-3",
        frame(0x00, b"P2PS\x02\x00\x01"),
        "UNSUPPORTED_VERSION",
    )
    invalid(
        "handshake-name-truncated", "HS-4", frame(0x00, handshake_payload()[:-1]), "BAD_HANDSHAKE"
    )
    invalid(
        "handshake-trailing-byte", "HS-4", frame(0x00, handshake_payload() + b"\0"), "BAD_HANDSHAKE"
    )
    invalid(
        "handshake-fixed-part-truncated",
        "HS-4",
        frame(0x00, handshake_payload()[:60]),
        "BAD_HANDSHAKE",
    )
    invalid(
        "handshake-name-bad-utf8",
        "HS-4",
        frame(0x00, handshake_payload(name=b"ab\xff\xfe")),
        "BAD_HANDSHAKE",
    )
    hctx = ctx("HANDSHAKE", role="dialer", known_share_id=None)
    invalid(
        "handshake-piece-size-not-power-of-two",
        "HS-9",
        frame(0x00, handshake_payload(piece_size=20_000)),
        "BAD_HANDSHAKE",
        hctx,
    )
    invalid(
        "handshake-piece-size-below-min",
        "HS-9",
        frame(0x00, handshake_payload(piece_size=8192)),
        "BAD_HANDSHAKE",
        hctx,
    )
    invalid(
        "handshake-piece-size-above-max",
        "HS-9",
        frame(0x00, handshake_payload(piece_size=MAX_PIECE_SIZE * 2)),
        "BAD_HANDSHAKE",
        hctx,
    )
    invalid(
        "handshake-file-too-large",
        "HS-9",
        frame(0x00, handshake_payload(file_size=MAX_FILE_SIZE + 1, piece_size=MAX_PIECE_SIZE)),
        "BAD_HANDSHAKE",
        hctx,
    )
    invalid(
        "handshake-too-many-pieces",
        "HS-9",
        frame(
            0x00,
            handshake_payload(file_size=MAX_PIECES * MIN_PIECE_SIZE + 1, piece_size=MIN_PIECE_SIZE),
        ),
        "BAD_HANDSHAKE",
        hctx,
    )
    invalid(
        "handshake-name-dotdot-slash",
        "HS-10",
        frame(0x00, handshake_payload(name=b"../x")),
        "BAD_METAINFO",
        hctx,
    )
    invalid(
        "handshake-name-empty",
        "HS-10",
        frame(0x00, handshake_payload(name=b"")),
        "BAD_METAINFO",
        hctx,
    )
    invalid(
        "handshake-name-windows-reserved",
        "HS-10",
        frame(0x00, handshake_payload(name=b"aux.txt")),
        "BAD_METAINFO",
        hctx,
    )
    valid("handshake-learned-by-dialer", "HS-12", THEIR_HS, handshake_message(hs), hctx)
    invalid(
        "handshake-other-share-id",
        "HS-14",
        frame(0x00, handshake_payload(share_id=hashlib.sha256(b"other").digest())),
        "SHARE_MISMATCH",
        ctx("HANDSHAKE", role="dialer"),
    )
    invalid(
        "handshake-other-summary",
        "HS-15",
        frame(0x00, handshake_payload(sha1=hashlib.sha1(b"other").digest())),
        "SHARE_MISMATCH",
        ctx("HANDSHAKE", role="acceptor"),
    )
    invalid("handshake-twice", "STATE-2", THEIR_HS, "UNEXPECTED_MESSAGE", active)

    # bitfield
    full = bitfield_bytes(ex.n, set(range(ex.n)))
    assert full == b"\xff" * 7 + b"\xfc"
    valid(
        "bitfield-full",
        "BF-2",
        frame(0x01, full),
        {"type": "bitfield", "bits": full.hex()},
        ctx("BITFIELD"),
    )
    some = bitfield_bytes(ex.n, {0, 9, 61})
    valid(
        "bitfield-pieces-0-9-61",
        "BF-2",
        frame(0x01, some),
        {"type": "bitfield", "bits": some.hex()},
        ctx("BITFIELD"),
    )
    valid("bitfield-empty-payload-decodes", "BF-2", frame(0x01), {"type": "bitfield", "bits": ""})
    invalid("bitfield-too-short", "BF-2", frame(0x01, full[:-1]), "MALFORMED", ctx("BITFIELD"))
    invalid("bitfield-too-long", "BF-2", frame(0x01, full + b"\0"), "MALFORMED", ctx("BITFIELD"))
    invalid(
        "bitfield-spare-bit-set",
        "BF-3",
        frame(0x01, b"\0" * 7 + b"\x01"),
        "MALFORMED",
        ctx("BITFIELD"),
    )
    invalid(
        "bitfield-spare-bit-62-set",
        "BF-3",
        frame(0x01, b"\0" * 7 + b"\x02"),
        "MALFORMED",
        ctx("BITFIELD"),
    )
    invalid(
        "bitfield-before-handshake",
        "STATE-2",
        frame(0x01, full),
        "UNEXPECTED_MESSAGE",
        ctx("HANDSHAKE", role="dialer"),
    )
    invalid("bitfield-twice", "BF-1", THEIR_BF, "UNEXPECTED_MESSAGE", active)
    invalid(
        "request-instead-of-bitfield",
        "BF-1",
        request(0, 0, 16384),
        "UNEXPECTED_MESSAGE",
        ctx("BITFIELD"),
    )
    invalid(
        "have-before-handshake",
        "STATE-2",
        have(0),
        "UNEXPECTED_MESSAGE",
        ctx("HANDSHAKE", role="dialer"),
    )

    # have
    valid("have-0", "MSG-1", have(0), {"type": "have", "index": 0}, active)
    valid("have-last", "MSG-1", have(last), {"type": "have", "index": last}, active)
    invalid("have-index-n", "MSG-1", have(ex.n), "OUT_OF_RANGE", active)
    invalid("have-index-max-u32", "MSG-1", have(0xFFFFFFFF), "OUT_OF_RANGE", active)

    # request / reject / cancel
    valid("request-example", "MSG-3", request(7, 0, 16384), msg_request(7, 0, 16384), active)
    valid(
        "request-last-piece-whole",
        "MSG-3",
        request(last, 0, 576),
        msg_request(last, 0, 576),
        active,
    )
    valid(
        "request-one-byte-at-end", "MSG-3", request(3, 16383, 1), msg_request(3, 16383, 1), active
    )
    invalid("request-index-n", "MSG-3", request(ex.n, 0, 1), "OUT_OF_RANGE", active)
    invalid("request-length-0", "MSG-3", request(0, 0, 0), "OUT_OF_RANGE", active)
    invalid(
        "request-length-over-max-block",
        "MSG-3",
        request(0, 0, MAX_BLOCK_LENGTH + 1),
        "OUT_OF_RANGE",
        active,
    )
    invalid("request-past-last-piece", "MSG-3", request(last, 0, 577), "OUT_OF_RANGE", active)
    invalid("request-offset-overflow", "MSG-3", request(0, 0xFFFFFFFF, 1), "OUT_OF_RANGE", active)
    invalid(
        "request-duplicate-outstanding",
        "MSG-6",
        request(1, 0, 16384),
        "UNEXPECTED_MESSAGE",
        ctx("ACTIVE", received=request(1, 0, 16384)),
    )
    many = b"".join(request(i // 16, (i % 16) * 1024, 1024) for i in range(MAX_PEER_REQUESTS))
    valid(
        "request-512th-allowed",
        "MSG-5",
        request(40, 0, 1),
        msg_request(40, 0, 1),
        ctx("ACTIVE", received=many[: 511 * 17]),
    )
    invalid(
        "request-513th-too-many",
        "MSG-5",
        request(60, 0, 1),
        "TOO_MANY_REQUESTS",
        ctx("ACTIVE", received=many),
    )
    valid(
        "reject-answers-our-request",
        "MSG-10",
        block(0x05, 5, 0, 16384),
        msg_request(5, 0, 16384, "reject"),
        ctx("ACTIVE", sent=[msg_request(5, 0, 16384)]),
    )
    invalid("reject-unsolicited", "MSG-10", block(0x05, 5, 0, 16384), "UNSOLICITED", active)
    invalid(
        "reject-other-length",
        "MSG-10",
        block(0x05, 5, 0, 8192),
        "UNSOLICITED",
        ctx("ACTIVE", sent=[msg_request(5, 0, 16384)]),
    )
    invalid("reject-out-of-range", "MSG-3", block(0x05, ex.n, 0, 1), "OUT_OF_RANGE", active)
    valid(
        "cancel-not-outstanding-ignored",
        "MSG-12",
        block(0x06, 2, 0, 16384),
        msg_request(2, 0, 16384, "cancel"),
        active,
    )
    valid(
        "cancel-outstanding",
        "MSG-12",
        block(0x06, 2, 0, 16384),
        msg_request(2, 0, 16384, "cancel"),
        ctx("ACTIVE", received=request(2, 0, 16384)),
    )
    invalid("cancel-out-of-range", "MSG-3", block(0x06, 0, 16000, 1000), "OUT_OF_RANGE", active)

    # piece
    data576 = content(ex.size)[last * ex.piece_size :]
    assert len(data576) == 576
    valid(
        "piece-answers-our-request",
        "MSG-10",
        piece(last, 0, data576),
        {"type": "piece", "index": last, "offset": 0, "data": data576.hex()},
        ctx("ACTIVE", sent=[msg_request(last, 0, 576)]),
    )
    valid(
        "piece-codec-5-bytes",
        "MSG-9",
        piece(9, 100, b"hello"),
        {"type": "piece", "index": 9, "offset": 100, "data": b"hello".hex()},
    )
    invalid("piece-unsolicited", "MSG-10", piece(last, 0, data576), "UNSOLICITED", active)
    invalid(
        "piece-shorter-than-requested",
        "MSG-10",
        piece(last, 0, data576[:-1]),
        "UNSOLICITED",
        ctx("ACTIVE", sent=[msg_request(last, 0, 576)]),
    )
    invalid(
        "piece-answered-twice",
        "MSG-4",
        piece(last, 0, data576),
        "UNSOLICITED",
        ctx("ACTIVE", sent=[msg_request(last, 0, 576)], received=piece(last, 0, data576)),
    )
    invalid("piece-index-n", "MSG-9", piece(ex.n, 0, b"x"), "OUT_OF_RANGE", active)
    invalid("piece-empty-data", "MSG-9", piece(0, 0, b""), "OUT_OF_RANGE", active)
    invalid(
        "piece-past-end-of-piece", "MSG-9", piece(last, 500, bytes(100)), "OUT_OF_RANGE", active
    )

    # choke & co
    for mid, kind in ((7, "choke"), (8, "unchoke"), (9, "interested"), (10, "not_interested")):
        valid(kind, "MSG-14", frame(mid), {"type": kind}, active)
    valid(
        "choke-redundant", "MSG-15", frame(7), {"type": "choke"}, ctx("ACTIVE", received=frame(7))
    )
    invalid("unchoke-before-bitfield", "STATE-2", frame(8), "UNEXPECTED_MESSAGE", ctx("BITFIELD"))

    # peers
    e4 = peer_entry(b"\x10" * 20, 4, bytes([127, 0, 0, 1]), 6881)
    e6 = peer_entry(b"\x20" * 20, 6, bytes(15) + b"\x01", 6882)
    e6b = peer_entry(b"\x30" * 20, 6, bytes.fromhex("20010db8000000000000000000000007"), 443)
    entry_msg = [
        {"peer_id": ("10" * 20), "host": "127.0.0.1", "port": 6881},
        {"peer_id": ("20" * 20), "host": "::1", "port": 6882},
        {"peer_id": ("30" * 20), "host": "2001:db8::7", "port": 443},
    ]
    valid("peers-empty", "PEX-1", peers([]), {"type": "peers", "entries": []}, active)
    valid(
        "peers-ipv4-ipv6",
        "PEX-1",
        peers([e4, e6, e6b]),
        {"type": "peers", "entries": entry_msg},
        active,
    )
    fifty = [peer_entry(bytes([i]) * 20, 4, bytes([10, 0, 0, i]), 1000 + i) for i in range(50)]
    valid(
        "peers-50-entries",
        "PEX-2",
        peers(fifty),
        {
            "type": "peers",
            "entries": [
                {"peer_id": (bytes([i]) * 20).hex(), "host": f"10.0.0.{i}", "port": 1000 + i}
                for i in range(50)
            ],
        },
        active,
    )
    invalid("peers-51-entries", "PEX-2", peers([*fifty, e4]), "PEX_VIOLATION", active)
    invalid("peers-count-60-one-entry", "PEX-3", peers([e4], count=60), "MALFORMED")
    invalid("peers-family-5", "PEX-3", peers([peer_entry(b"\1" * 20, 5, bytes(4), 1)]), "MALFORMED")
    invalid("peers-family-0", "PEX-3", peers([peer_entry(b"\1" * 20, 0, bytes(4), 1)]), "MALFORMED")
    invalid("peers-truncated-entry", "PEX-3", frame(0x0B, b"\x01" + e4[:-1]), "MALFORMED")
    invalid("peers-trailing-byte", "PEX-3", frame(0x0B, b"\x01" + e4 + b"\0"), "MALFORMED")
    invalid(
        "peers-ipv4-with-16-byte-address",
        "PEX-3",
        peers([peer_entry(b"\1" * 20, 4, bytes(16), 1)]),
        "MALFORMED",
    )
    invalid("peers-no-count", "PEX-3", frame(0x0B), "MALFORMED")

    # metainfo exchange
    meta = ex.meta
    assert len(meta) < METAINFO_CHUNK_SIZE
    mreq = {"type": "metainfo_request", "chunk": 0}
    valid("metainfo-request-0", "META-11", frame(0x0C, struct.pack(">I", 0)), mreq, active)
    valid(
        "metainfo-request-64",
        "META-11",
        frame(0x0C, struct.pack(">I", 64)),
        {"type": "metainfo_request", "chunk": 64},
        active,
    )
    invalid(
        "metainfo-request-65", "META-11", frame(0x0C, struct.pack(">I", 65)), "OUT_OF_RANGE", active
    )
    invalid(
        "metainfo-request-duplicate",
        "META-16",
        frame(0x0C, b"\0\0\0\0"),
        "UNEXPECTED_MESSAGE",
        ctx("ACTIVE", received=frame(0x0C, b"\0\0\0\0")),
    )
    md = frame(0x0D, struct.pack(">II", 0, len(meta)) + meta)
    valid(
        "metainfo-data-answers-request",
        "META-12",
        md,
        {"type": "metainfo_data", "chunk": 0, "total_size": len(meta), "data": meta.hex()},
        ctx("ACTIVE", sent=[mreq]),
    )
    valid(
        "metainfo-data-codec",
        "META-12",
        frame(0x0D, struct.pack(">II", 3, 200_000) + b"abc"),
        {"type": "metainfo_data", "chunk": 3, "total_size": 200_000, "data": "616263"},
    )
    invalid("metainfo-data-unsolicited", "META-13", md, "UNSOLICITED", active)
    invalid(
        "metainfo-data-wrong-total-size",
        "META-12",
        frame(0x0D, struct.pack(">II", 0, len(meta) + 1) + meta + b"\0"),
        "BAD_METAINFO",
        ctx("ACTIVE", sent=[mreq]),
    )
    invalid(
        "metainfo-data-short-chunk",
        "META-12",
        frame(0x0D, struct.pack(">II", 0, len(meta)) + meta[:-1]),
        "BAD_METAINFO",
        ctx("ACTIVE", sent=[mreq]),
    )
    invalid(
        "metainfo-data-chunk-past-end",
        "META-12",
        frame(0x0D, struct.pack(">II", 1, len(meta)) + b"x"),
        "BAD_METAINFO",
        ctx("ACTIVE", sent=[{"type": "metainfo_request", "chunk": 1}]),
    )
    valid(
        "metainfo-reject-answers-request",
        "META-11",
        frame(0x0E, b"\0\0\0\0"),
        {"type": "metainfo_reject", "chunk": 0},
        ctx("ACTIVE", sent=[mreq]),
    )
    invalid(
        "metainfo-reject-unsolicited", "META-13", frame(0x0E, b"\0\0\0\7"), "UNSOLICITED", active
    )

    build_span_frames()

    # error
    valid(
        "error-shutdown",
        "ERR-1",
        error_frame(16, b"bye"),
        {"type": "error", "code": 16, "reason": "bye"},
        active,
    )
    valid(
        "error-empty-reason",
        "ERR-1",
        error_frame(2, b""),
        {"type": "error", "code": 2, "reason": ""},
    )
    valid(
        "error-unknown-code",
        "ERR-7",
        error_frame(999, b"x"),
        {"type": "error", "code": 999, "reason": "x"},
        active,
    )
    valid(
        "error-before-handshake",
        "ERR-6",
        error_frame(17, b"full"),
        {"type": "error", "code": 17, "reason": "full"},
        ctx("HANDSHAKE", role="dialer"),
    )
    r1024 = ("é" * 512).encode()
    valid(
        "error-reason-1024-bytes",
        "ERR-2",
        error_frame(1, r1024),
        {"type": "error", "code": 1, "reason": r1024.decode()},
    )
    invalid("error-reason-1025-bytes", "ERR-2", error_frame(1, b"a" * 1025), "MALFORMED")
    invalid("error-reason-bad-utf8", "ERR-2", error_frame(1, b"bad \xc3\x28"), "MALFORMED")
    invalid("error-payload-1-byte", "ERR-2", frame(0x0F, b"\0"), "MALFORMED")

    # ERR-11: one frame breaking several rules fails with the first check in the spec's order
    invalid(
        "precedence-state-before-layout",
        "ERR-11",
        frame(0x02, b"\0\0\0"),  # a 3-byte have, before the bitfield
        "UNEXPECTED_MESSAGE",
        ctx("BITFIELD"),
    )
    invalid(
        "precedence-layout-before-range",
        "ERR-11",
        frame(0x02, struct.pack(">IB", ex.n, 0)),  # 5-byte have for piece n
        "MALFORMED",
        active,
    )
    invalid(
        "precedence-name-before-share",
        "ERR-11",
        frame(0x00, handshake_payload(share_id=bytes(32), name=b"CON")),
        "BAD_METAINFO",
        ctx("HANDSHAKE"),
    )
    invalid(
        "precedence-piece-range-before-unsolicited",
        "ERR-11",
        piece(last, 500, bytes(100)),  # past the end of the 576-byte last piece, never asked
        "OUT_OF_RANGE",
        active,
    )
    invalid(
        "precedence-reject-range-before-unsolicited",
        "ERR-11",
        block(0x05, 3, ex.piece_size - 1, 2),  # crosses the end of an earlier piece
        "OUT_OF_RANGE",
        active,
    )
    invalid(
        "precedence-request-duplicate-before-limit",
        "ERR-11",
        request(0, 0, 1024),  # outstanding already, and a 513th request
        "UNEXPECTED_MESSAGE",
        ctx("ACTIVE", received=many),
    )
    invalid(
        "precedence-metainfo-unsolicited-before-size",
        "ERR-11",
        frame(0x0D, struct.pack(">II", 1, len(meta)) + b"x"),  # past the end and not asked
        "UNSOLICITED",
        active,
    )
    valid(
        "late-piece-after-requester-gave-up",
        "MSG-21",
        piece(last, 0, data576),
        {"type": "piece", "index": last, "offset": 0, "data": data576.hex()},
        ctx("ACTIVE", sent=[msg_request(last, 0, 576), {"type": "choke"}]),
    )


# --- metainfo.json --------------------------------------------------------------------------

METAINFO: list[dict[str, Any]] = []


def meta_valid(name: str, share: Share, req: str = "META-1") -> None:
    METAINFO.append(
        {
            "name": name,
            "requirement": req,
            "kind": "encoding",
            "hex": share.meta.hex(),
            "content": {"size": share.size, "byte_i": "i mod 251"},
            "metainfo": {
                "name": share.name,
                "file_size": share.size,
                "piece_size": share.piece_size,
                "file_sha1": share.sha1.hex(),
                "piece_hashes": [h.hex() for h in share.hashes],
            },
            "share_id": share.share_id.hex(),
        }
    )


def meta_invalid(name: str, data: bytes, req: str) -> None:
    METAINFO.append(
        {
            "name": name,
            "requirement": req,
            "kind": "encoding",
            "hex": data.hex(),
            "error": "BAD_METAINFO",
        }
    )


def build_metainfo() -> None:
    meta_valid("example-1mb", EXAMPLE, "META-3")
    meta_valid("empty-file", Share("empty", "empty.dat", 0, DEFAULT_PIECE_SIZE))
    meta_valid("one-byte", Share("one", "x", 1, MIN_PIECE_SIZE))
    meta_valid("exactly-one-piece", Share("onepiece", "one piece.bin", 65_536, 65_536))
    meta_valid("one-piece-plus-one-byte", Share("plus1", "p.bin", 65_537, 65_536))
    meta_valid("unicode-name", Share("uni", "Ünïcødé 文件.bin", 40_000, 16_384), "NAME-1")
    meta_valid("name-255-bytes", Share("long", "n" * 251 + ".bin", 20, 16_384), "NAME-1")
    meta_valid("max-piece-size", Share("big-ps", "big.bin", 100, MAX_PIECE_SIZE), "META-2")

    ex = EXAMPLE
    sha1, hashes = ex.sha1, ex.hashes

    def mb(
        name: bytes = b"example.bin",
        size: int = ex.size,
        ps: int = ex.piece_size,
        hs: list[bytes] = hashes,
    ) -> bytes:
        return metainfo_bytes(name, size, ps, sha1, hs)

    meta_invalid("bad-magic", b"P2PX" + ex.meta[4:], "META-1")
    meta_invalid("version-2", ex.meta[:4] + b"\x02" + ex.meta[5:], "META-1")
    meta_invalid("truncated-last-hash", ex.meta[:-1], "META-1")
    meta_invalid("trailing-byte", ex.meta + b"\0", "META-1")
    meta_invalid("missing-one-hash", ex.meta[:-32], "META-1")
    meta_invalid("fixed-part-truncated", ex.meta[:38], "META-1")
    meta_invalid("empty", b"", "META-1")
    meta_invalid("name-len-past-end", ex.meta[:37] + b"\xff\xff" + ex.meta[39:], "META-1")
    meta_invalid("piece-size-not-power-of-two", mb(ps=20_000, hs=hashes[:50]), "META-2")
    meta_invalid("piece-size-below-min", mb(ps=8192, hs=[hashes[0]] * 123), "META-2")
    meta_invalid(
        "piece-size-above-max", mb(size=100, ps=2 * MAX_PIECE_SIZE, hs=hashes[:1]), "META-2"
    )
    meta_invalid(
        "too-many-pieces",
        mb(size=MAX_PIECES * MIN_PIECE_SIZE + 1, ps=MIN_PIECE_SIZE, hs=[]),
        "META-2",
    )
    meta_invalid("file-too-large", mb(size=MAX_FILE_SIZE + 1, ps=MAX_PIECE_SIZE, hs=[]), "META-2")
    meta_invalid("name-empty", mb(name=b""), "NAME-1")
    meta_invalid("name-bad-utf8", mb(name=b"bad\xff.bin"), "NAME-1")
    meta_invalid("name-overlong-utf8-slash", mb(name=b"a\xc0\xafb"), "NAME-1")
    meta_invalid("name-path-traversal", mb(name=b"../evil"), "NAME-1")
    meta_invalid("name-absolute", mb(name=b"/etc/passwd"), "NAME-1")
    meta_invalid("name-backslash", mb(name=b"..\\evil.exe"), "NAME-1")
    meta_invalid("name-con", mb(name=b"CON"), "NAME-1")
    meta_invalid("name-256-bytes", mb(name=b"n" * 256), "NAME-1")

    for size, requested, expect in (
        (0, DEFAULT_PIECE_SIZE, DEFAULT_PIECE_SIZE),
        (1, DEFAULT_PIECE_SIZE, DEFAULT_PIECE_SIZE),
        (1_000_000, DEFAULT_PIECE_SIZE, DEFAULT_PIECE_SIZE),
        (MAX_PIECES * DEFAULT_PIECE_SIZE, DEFAULT_PIECE_SIZE, DEFAULT_PIECE_SIZE),
        (MAX_PIECES * DEFAULT_PIECE_SIZE + 1, DEFAULT_PIECE_SIZE, 2 * DEFAULT_PIECE_SIZE),
        (100 * 2**30, DEFAULT_PIECE_SIZE, 2**20),
        (MAX_FILE_SIZE, DEFAULT_PIECE_SIZE, MAX_PIECE_SIZE),
        (5 * 2**30, MIN_PIECE_SIZE, 65_536),
        (10_000, 2**20, 2**20),
    ):
        ps = requested
        while ceil_div(size, ps) > MAX_PIECES:
            ps *= 2
        assert ps == expect, (size, ps, expect)
        n = ceil_div(size, ps)
        METAINFO.append(
            {
                "name": f"piece-size-{size}-from-{requested}",
                "requirement": "META-6",
                "kind": "choose_piece_size",
                "file_size": size,
                "requested": requested,
                "piece_size": ps,
                "piece_count": n,
                "max_metainfo_size": 39 + 255 + 32 * n,
            }
        )

    for total in (40, len(EXAMPLE.meta), 65_536, 65_537, 3 * 65_536 + 5, MAX_METAINFO_SIZE):
        count = ceil_div(total, METAINFO_CHUNK_SIZE)
        METAINFO.append(
            {
                "name": f"chunks-of-{total}",
                "requirement": "META-11",
                "kind": "chunks",
                "total_size": total,
                "chunk_count": count,
                "last_chunk_length": total - (count - 1) * METAINFO_CHUNK_SIZE,
            }
        )


# --- tree.json (multi-file shares, Section 8.7) ------------------------------------------------

TREE: list[dict[str, Any]] = []
MAX_TREE_ENTRIES = 65_536
MAX_TREE_DEPTH = 32
MAX_TREE_PATH_LENGTH = 1024
EMPTY_SHA1 = hashlib.sha1(b"").digest()


def tree_content(index: int, size: int) -> bytes:
    """The vectors' tree content: byte j of the entry at position `index` is (j + 7 x index)
    mod 251, so files of equal size still differ."""
    pattern = bytes(range(251)) * 2
    shift = (7 * index) % 251
    return (pattern[shift : shift + 251] * (size // 251 + 1))[:size]


def tree_entry_bytes(kind: int, size: int, sha1: bytes, path: bytes) -> bytes:
    return struct.pack(">BQ20sH", kind, size, sha1, len(path)) + path


def tree_bytes(
    name: bytes, total: int, piece_size: int, entries: list[bytes], hashes: list[bytes]
) -> bytes:
    head = b"P2PT" + struct.pack(">BQIIH", 1, total, piece_size, len(entries), len(name))
    return head + name + b"".join(entries) + b"".join(hashes)


class Tree:
    """A tree built from `tree_content`; `files` are (path, size) or (path, None) for an empty
    directory, given in the spec's order (components as UTF-8 bytes, TREE-4)."""

    def __init__(self, name: str, piece_size: int, files: list[tuple[str, int | None]]) -> None:
        order = sorted(files, key=lambda f: tuple(c.encode() for c in f[0].split("/")))
        assert files == order, f"entries of {name} are not in TREE-4 order: {order}"
        self.name, self.piece_size, self.files = name, piece_size, files
        blobs, table, listed = [], [], []
        at = 0
        for position, (path, size) in enumerate(files):
            if size is None:
                table.append(tree_entry_bytes(1, 0, bytes(20), path.encode()))
                listed.append(
                    {"path": path, "kind": 1, "size": 0, "sha1": bytes(20).hex(), "start": at}
                )
                continue
            data = tree_content(position, size)
            sha1 = hashlib.sha1(data).digest()
            blobs.append(data)
            table.append(tree_entry_bytes(0, size, sha1, path.encode()))
            listed.append({"path": path, "kind": 0, "size": size, "sha1": sha1.hex(), "start": at})
            at += size
        whole = b"".join(blobs)
        self.total = len(whole)
        self.n = ceil_div(self.total, piece_size)
        self.hashes = [
            hashlib.sha256(whole[i * piece_size : (i + 1) * piece_size]).digest()
            for i in range(self.n)
        ]
        self.table, self.listed = table, listed
        self.meta = tree_bytes(name.encode(), self.total, piece_size, table, self.hashes)
        self.share_id = hashlib.sha256(self.meta).digest()
        self.tag = struct.pack(">I", len(self.meta)) + bytes(16)


def tree_valid(name: str, tree: Tree, req: str = "TREE-1") -> None:
    TREE.append(
        {
            "name": name,
            "requirement": req,
            "kind": "encoding",
            "hex": tree.meta.hex(),
            "content": "byte j of the entry at position k is (j + 7k) mod 251",
            "tree": {
                "name": tree.name,
                "total_size": tree.total,
                "piece_size": tree.piece_size,
                "entries": tree.listed,
                "piece_hashes": [h.hex() for h in tree.hashes],
            },
            "summary": {
                "name": tree.name + "/",
                "file_size": tree.total,
                "piece_size": tree.piece_size,
                "file_sha1": tree.tag.hex(),
                "metainfo_size": len(tree.meta),
            },
            "share_id": tree.share_id.hex(),
        }
    )


def tree_invalid(name: str, data: bytes, req: str) -> None:
    TREE.append(
        {
            "name": name,
            "requirement": req,
            "kind": "encoding",
            "hex": data.hex(),
            "error": "BAD_METAINFO",
        }
    )


def hostile_tree(
    paths: list[tuple[int, str]],
    *,
    total: int = 0,
    count: int | None = None,
    sizes: dict[str, int] | None = None,
) -> bytes:
    """A tree of empty entries (no pieces) with the given (kind, path) list, as it stands."""
    sizes = sizes or {}
    table = []
    for kind, path in paths:
        size = sizes.get(path, 0)
        sha1 = bytes(20) if kind else EMPTY_SHA1
        table.append(tree_entry_bytes(kind, size, sha1, path.encode()))
    pieces = ceil_div(total, DEFAULT_PIECE_SIZE)
    data = tree_bytes(b"evil", total, DEFAULT_PIECE_SIZE, table, [bytes(32)] * pieces)
    if count is not None:
        data = data[:17] + struct.pack(">I", count) + data[21:]
    return data


EXAMPLE_TREE = Tree(
    "album",
    MIN_PIECE_SIZE,
    [
        ("empty dir", None),
        ("empty.txt", 0),
        ("photos/2024/a.jpg", 20_000),
        ("photos/2024/b.jpg", 10_000),
        ("photos/readme", 1),
        ("z", 3),
        ("Ünïcødé 文件.txt", 5_000),
    ],
)


def build_tree() -> None:
    tree_valid("tree-example", EXAMPLE_TREE, "TREE-6")
    tree_valid("tree-empty", Tree("empty folder", DEFAULT_PIECE_SIZE, []), "TREE-1")
    tree_valid(
        "tree-only-empty-files",
        Tree("nothing", DEFAULT_PIECE_SIZE, [("a", 0), ("b/c", 0)]),
        "TREE-1",
    )
    tree_valid("tree-one-file", Tree("one", MIN_PIECE_SIZE, [("x.bin", 40_000)]), "TREE-1")
    tree_valid(
        "tree-order-prefix-first",
        Tree("order", MIN_PIECE_SIZE, [("a/b", 1), ("a.b", 1), ("a0", 1)]),
        "TREE-4",
    )
    deep = "/".join(["d"] * (MAX_TREE_DEPTH - 1) + ["f"])
    tree_valid("tree-max-depth", Tree("deep", MIN_PIECE_SIZE, [(deep, 2)]), "TREE-3")
    long_path = "p/" + "n" * 255 + "/" + "n" * 255 + "/" + "n" * 255 + "/" + "n" * 254
    assert len(long_path) == MAX_TREE_PATH_LENGTH
    tree_valid("tree-path-1024-bytes", Tree("long", MIN_PIECE_SIZE, [(long_path, 1)]), "TREE-3")

    ex = EXAMPLE_TREE
    meta = ex.meta
    tree_invalid("tree-version-2", meta[:4] + b"\x02" + meta[5:], "TREE-1")
    tree_invalid("tree-trailing-byte", meta + b"\0", "TREE-1")
    tree_invalid("tree-missing-hash", meta[:-32], "TREE-1")
    tree_invalid("tree-truncated-header", meta[:20], "TREE-1")
    tree_invalid("tree-total-size-mismatch", hostile_tree([(0, "a")], total=5), "TREE-2")
    tree_invalid("tree-too-many-entries", hostile_tree([], count=MAX_TREE_ENTRIES + 1), "TREE-2")
    too_big = MAX_FILE_SIZE + 1  # (a header alone: the size is refused before any entry)
    tree_invalid(
        "tree-total-size-too-large",
        tree_bytes(b"big", too_big, MAX_PIECE_SIZE, [], []),
        "TREE-2",
    )
    tree_invalid("tree-entry-count-past-end", hostile_tree([(0, "a")], count=2), "TREE-1")
    tree_invalid("tree-unknown-kind", hostile_tree([(2, "a")]), "TREE-2")
    tree_invalid(
        "tree-directory-with-size", hostile_tree([(1, "d")], total=1, sizes={"d": 1}), "TREE-2"
    )
    tree_invalid(
        "tree-root-name-with-slash", tree_bytes(b"a/b", 0, DEFAULT_PIECE_SIZE, [], []), "TREE-2"
    )
    tree_invalid(
        "tree-root-name-dotdot", tree_bytes(b"..", 0, DEFAULT_PIECE_SIZE, [], []), "TREE-2"
    )
    for label, path in (
        ("dotdot", ".."),
        ("dotdot-inside", "a/../../etc/passwd"),
        ("dot", "a/./b"),
        ("absolute", "/etc/passwd"),
        ("empty-component", "a//b"),
        ("trailing-slash", "a/"),
        ("backslash", "a\\..\\b"),
        ("drive-letter", "C:/x"),
        ("device-name", "dir/NUL.txt"),
        ("control-char", "a/b\x1bc"),
        ("too-deep", "/".join(["d"] * MAX_TREE_DEPTH + ["f"])),
        ("too-long", "p/" + "n" * 255 + "/" + "n" * 255 + "/" + "n" * 255 + "/" + "n" * 255),
        ("empty-path", ""),
    ):
        tree_invalid(f"tree-path-{label}", hostile_tree([(0, path)]), "TREE-3")
    tree_invalid(
        "tree-path-bad-utf8",
        tree_bytes(
            b"evil", 0, DEFAULT_PIECE_SIZE, [tree_entry_bytes(0, 0, EMPTY_SHA1, b"a\xc0\xafb")], []
        ),
        "TREE-3",
    )
    tree_invalid("tree-duplicate-path", hostile_tree([(0, "a"), (0, "a")]), "TREE-4")
    tree_invalid("tree-out-of-order", hostile_tree([(0, "b"), (0, "a")]), "TREE-4")
    tree_invalid("tree-out-of-order-prefix", hostile_tree([(0, "a.b"), (0, "a/b")]), "TREE-4")
    tree_invalid("tree-case-collision", hostile_tree([(0, "A.txt"), (0, "a.txt")]), "TREE-5")
    tree_invalid("tree-case-collision-directory", hostile_tree([(0, "D/x"), (0, "d/y")]), "TREE-5")
    tree_invalid(
        "tree-unicode-normalisation-collision",
        hostile_tree([(0, "e\u0301"), (0, "\u00e9")]),
        "TREE-5",
    )
    tree_invalid(
        "tree-full-case-folding-collision",
        hostile_tree([(0, "STRASSE"), (0, "stra\u00dfe")]),
        "TREE-5",
    )
    tree_invalid("tree-file-and-directory", hostile_tree([(0, "a"), (0, "a/b")]), "TREE-5")
    tree_invalid("tree-file-and-directory-folded", hostile_tree([(0, "A"), (0, "a/b")]), "TREE-5")
    tree_invalid("tree-empty-directory-not-empty", hostile_tree([(1, "d"), (0, "d/x")]), "TREE-5")
    tree_invalid("tree-directory-and-file-same-path", hostile_tree([(0, "D"), (1, "d")]), "TREE-5")

    def summary(name: str, label: str, req: str, tag: bytes, size: int, error: str | None) -> None:
        TREE.append(
            {
                "name": f"summary-{label}",
                "requirement": req,
                "kind": "summary",
                "summary": {
                    "name": name,
                    "file_size": size,
                    "piece_size": MIN_PIECE_SIZE,
                    "file_sha1": tag.hex(),
                },
                "error": error,
            }
        )

    summary(ex.name + "/", "example", "TREE-8", ex.tag, ex.total, None)
    summary("single.bin", "single-file", "HS-10", bytes(20), 0, None)
    summary("../x/", "bad-root", "TREE-9", ex.tag, ex.total, "BAD_METAINFO")
    summary("a/b/", "root-with-slash", "TREE-9", ex.tag, ex.total, "BAD_METAINFO")
    summary("album/", "tag-not-zero", "TREE-9", ex.tag[:-1] + b"\x01", ex.total, "BAD_HANDSHAKE")
    summary(
        "album/",
        "tag-too-small",
        "TREE-9",
        struct.pack(">I", 28) + bytes(16),
        ex.total,
        "BAD_HANDSHAKE",
    )
    summary(
        "album/",
        "tag-too-large",
        "TREE-9",
        struct.pack(">I", MAX_METAINFO_SIZE + 1) + bytes(16),
        0,
        "BAD_HANDSHAKE",
    )
    summary(
        "album/", "tag-max", "TREE-9", struct.pack(">I", MAX_METAINFO_SIZE) + bytes(16), 0, None
    )


# --- links.json and names.json ---------------------------------------------------------------

SID = EXAMPLE.share_id.hex()
LINKS: list[dict[str, Any]] = []
NAMES: list[dict[str, Any]] = []


def link_ok(
    name: str, req: str, text: str, host: str, port: int, sid: str | None, formatted: str
) -> None:
    LINKS.append(
        {
            "name": name,
            "requirement": req,
            "text": text,
            "valid": True,
            "link": {"host": host, "port": port, "share_id": sid},
            "formatted": formatted,
        }
    )


def link_bad(name: str, req: str, text: str) -> None:
    LINKS.append({"name": name, "requirement": req, "text": text, "valid": False})


def build_links() -> None:
    full = f"p2pshare://192.0.2.7:6881/{SID}"
    link_ok("ipv4-full", "LINK-1", full, "192.0.2.7", 6881, SID, full)
    link_ok(
        "ipv6-full",
        "LINK-2",
        f"p2pshare://[::1]:7000/{SID}",
        "::1",
        7000,
        SID,
        f"p2pshare://[::1]:7000/{SID}",
    )
    link_ok(
        "uppercase-id",
        "LINK-4",
        f"p2pshare://127.0.0.1:1/{SID.upper()}",
        "127.0.0.1",
        1,
        SID,
        f"p2pshare://127.0.0.1:1/{SID}",
    )
    link_ok(
        "hostname-full",
        "LINK-1",
        f"p2pshare://example.org:65535/{SID}",
        "example.org",
        65535,
        SID,
        f"p2pshare://example.org:65535/{SID}",
    )
    link_ok("plain-ipv4", "LINK-1", "127.0.0.1:6881", "127.0.0.1", 6881, None, "127.0.0.1:6881")
    link_ok(
        "plain-ipv6",
        "LINK-2",
        "[2001:db8::1]:6881",
        "2001:db8::1",
        6881,
        None,
        "[2001:db8::1]:6881",
    )
    link_ok("plain-hostname", "LINK-1", "localhost:7000", "localhost", 7000, None, "localhost:7000")
    link_bad("no-port", "LINK-3", f"p2pshare://127.0.0.1/{SID}")
    link_bad("empty-port", "LINK-3", f"p2pshare://127.0.0.1:/{SID}")
    link_bad("port-0", "LINK-3", "127.0.0.1:0")
    link_bad("port-65536", "LINK-3", "127.0.0.1:65536")
    link_bad("port-negative", "LINK-3", "127.0.0.1:-1")
    link_bad("port-plus", "LINK-3", "127.0.0.1:+80")
    link_bad("port-hex", "LINK-3", "127.0.0.1:0x50")
    link_bad("port-6-digits", "LINK-3", "127.0.0.1:000080")
    link_ok(
        "port-leading-zeros", "LINK-3", "127.0.0.1:08080", "127.0.0.1", 8080, None, "127.0.0.1:8080"
    )
    link_bad("ipv6-unbracketed-full", "LINK-2", f"p2pshare://::1:7000/{SID}")
    link_bad("ipv6-unbracketed-plain", "LINK-2", "::1:7000")
    link_bad("ipv6-missing-bracket", "LINK-2", "[::1:7000")
    link_bad("empty-host", "LINK-2", ":7000")
    link_bad("id-63-digits", "LINK-4", f"p2pshare://127.0.0.1:7000/{SID[:-1]}")
    link_bad("id-65-digits", "LINK-4", f"p2pshare://127.0.0.1:7000/{SID}0")
    link_bad("id-not-hex", "LINK-4", f"p2pshare://127.0.0.1:7000/{'g' * 64}")
    link_bad("id-missing", "LINK-5", "p2pshare://127.0.0.1:7000")
    link_bad("id-missing-trailing-slash", "LINK-5", "p2pshare://127.0.0.1:7000/")
    link_bad("other-scheme", "LINK-5", f"http://127.0.0.1:7000/{SID}")
    link_bad("userinfo", "LINK-5", f"p2pshare://user@127.0.0.1:7000/{SID}")
    link_bad("query", "LINK-5", f"p2pshare://127.0.0.1:7000/{SID}?x=1")
    link_bad("fragment", "LINK-5", f"p2pshare://127.0.0.1:7000/{SID}#frag")
    link_bad("extra-path", "LINK-5", f"p2pshare://127.0.0.1:7000/{SID}/more")
    link_bad("embedded-space", "LINK-5", f"p2pshare://127.0.0.1:7000/ {SID}")
    link_bad("empty", "LINK-5", "")


def build_names() -> None:
    ok = [
        "report.pdf",
        "Ünïcødé 文件.bin",
        "CONSOLE.txt",
        "a..b",
        "x",
        "n" * 255,
        ".hidden",
        "COM10",
        "with space.txt",
        "émoji-🎉.txt",
        "COM\u2074",  # superscript four is not a device name
        "COM0",
        "NUL x.txt",  # the stem is "NUL x"
        "a\u00a0b",  # U+00A0 (no-break space) is not a C1 control
    ]
    bad = {
        "": "empty",
        "n" * 256: "256 bytes",
        "é" * 128: "256 bytes of UTF-8 (128 chars)",
        "a/b": "slash",
        "a\\b": "backslash",
        "../x": "traversal",
        "a\x00b": "NUL",
        "tab\there": "control char",
        "del\x7f": "DEL",
        "new\nline": "newline",
        ".": "dot",
        "..": "dotdot",
        " lead": "leading space",
        "trail ": "trailing space",
        "trail.": "trailing dot",
        "CON": "reserved",
        "nul.txt": "reserved with extension",
        "Com3": "reserved, mixed case",
        "lpt9.tar.gz": "reserved, two extensions",
        "PRN": "reserved",
        "AUX.": "reserved + trailing dot",
        "a:b": "colon",
        "a*b": "star",
        "a?b": "question mark",
        'a"b': "quote",
        "a<b": "less than",
        "a>b": "greater than",
        "a|b": "pipe",
        "\ufeffname.txt": "leading byte order mark",
        "a\ufeffb": "inner U+FEFF",
        "next\x85line": "C1 control NEL",
        "csi\x9b": "C1 control CSI",
        "\x80x": "C1 control U+0080",
        "COM\u00b9": "reserved, superscript one",
        "lpt\u00b2.txt": "reserved, superscript two",
        "Com\u00b3.tar.gz": "reserved, superscript three",
        "NUL .txt": "reserved stem with trailing space",
        "con  .log": "reserved stem with two trailing spaces",
    }
    for value in ok:
        NAMES.append(
            {"name": f"ok-{value[:20]}", "requirement": "NAME-1", "value": value, "valid": True}
        )
    for value, why in bad.items():
        NAMES.append(
            {
                "name": f"bad-{why}-{value[:12]!r}",
                "requirement": "NAME-1",
                "value": value,
                "valid": False,
            }
        )


# --- local peer discovery (LSD) announces ----------------------------------------------------

LSD: list[dict[str, Any]] = []


def lsd_packet(
    cookie: bytes, port: int, ids: list[bytes], flags: int = 0, count: int = -1
) -> bytes:
    """An announce datagram, built from the spec's layout (not from the core's codec)."""
    n = len(ids) if count < 0 else count
    return b"P2PD" + bytes([1, flags]) + cookie + struct.pack(">HB", port, n) + b"".join(ids)


def build_lsd() -> None:
    cookie = bytes.fromhex("0011223344556677")
    share = EXAMPLE.share_id  # the worked example's share
    other = bytes([0xAB]) * 32
    for name, data, seeking, ids in (
        ("lsd-one-share", lsd_packet(cookie, 6881, [share]), False, [share]),
        ("lsd-two-shares", lsd_packet(cookie, 40213, [share, other]), False, [share, other]),
        ("lsd-seeking", lsd_packet(cookie, 7000, [share], flags=1), True, [share]),
    ):
        LSD.append(
            {
                "name": name,
                "requirement": "LSD-1",
                "hex": data.hex(),
                "valid": True,
                "announce": {
                    "cookie": cookie.hex(),
                    "port": struct.unpack_from(">H", data, 14)[0],
                    "seeking": seeking,
                    "share_ids": [i.hex() for i in ids],
                },
            }
        )
    good = lsd_packet(cookie, 6881, [share])
    for name, data in (
        ("lsd-bad-magic", b"P2PX" + good[4:]),
        ("lsd-bad-version", good[:4] + b"\x02" + good[5:]),
        ("lsd-port-zero", lsd_packet(cookie, 0, [share])),
        ("lsd-count-zero", lsd_packet(cookie, 6881, [], count=0)),
        ("lsd-count-too-large", lsd_packet(cookie, 6881, [share] * 17)),
        ("lsd-truncated", good[:-1]),
        ("lsd-trailing-byte", good + b"\x00"),
        ("lsd-count-mismatch", lsd_packet(cookie, 6881, [share], count=2)),
    ):
        LSD.append({"name": name, "requirement": "LSD-2", "hex": data.hex(), "valid": False})


# --- output --------------------------------------------------------------------------------

FILES = {
    "frames.json": ("Wire frames, valid and invalid (see README.md for the format).", FRAMES),
    "metainfo.json": (
        "Canonical metainfo encodings, share IDs, piece size choice, chunking.",
        METAINFO,
    ),
    "links.json": ("Share links, valid and invalid.", LINKS),
    "names.json": ("SAFE NAME examples, valid and invalid.", NAMES),
    "lsd.json": ("Local peer discovery announces (UDP datagrams), valid and invalid.", LSD),
    "tree.json": (
        "Multi-file (tree) metainfo encodings, share IDs and tree summaries, valid and invalid.",
        TREE,
    ),
}


def main() -> int:
    build_frames()
    build_metainfo()
    build_links()
    build_names()
    build_lsd()
    build_tree()
    extra: dict[str, dict[str, Any]] = {
        "frames.json": {
            "error_codes": ERRORS,
            "shares": {EXAMPLE.key: EXAMPLE.summary()},
            "peer_ids": {"ours": OUR_ID.hex(), "theirs": THEIR_ID.hex()},
        }
    }
    check = "--check" in sys.argv
    stale = []
    for fname, (description, vectors) in FILES.items():
        names = [v["name"] for v in vectors]
        assert len(names) == len(set(names)), f"duplicate names in {fname}"
        doc = {
            "description": description,
            "spec": "spec/protocol.md",
            **extra.get(fname, {}),
            "vectors": vectors,
        }
        text = json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=False) + "\n"
        path = OUT / fname
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(fname)
        else:
            path.write_text(text, encoding="utf-8")
        print(f"{fname}: {len(vectors)} vectors")
    if stale:
        print(f"stale: {stale} (re-run generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
