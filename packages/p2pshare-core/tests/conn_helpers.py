"""Helpers shared by the connection tests: a small share and its handshakes."""

from __future__ import annotations

import hashlib

from p2pshare_core import codec
from p2pshare_core import events as ev
from p2pshare_core.bitfield import Bitfield as Bits
from p2pshare_core.connection import Connection, Role
from p2pshare_core.metainfo import Metainfo

PIECE = 16384
DATA = bytes((i * 31 + 7) & 0xFF for i in range(PIECE * 2 + 1000))  # 3 pieces, last short
META = Metainfo(
    "test.bin",
    len(DATA),
    PIECE,
    hashlib.sha1(DATA).digest(),
    tuple(hashlib.sha256(DATA[i : i + PIECE]).digest() for i in range(0, len(DATA), PIECE)),
)
SHARE_ID = META.share_id


def handshake(peer: bytes = b"a", meta: Metainfo = META, **changes: object) -> ev.Handshake:
    fields: dict[str, object] = {
        "peer_id": peer * 20,
        "listen_port": 4000,
        "share_id": meta.share_id,
        "file_size": meta.file_size,
        "piece_size": meta.piece_size,
        "file_sha1": meta.file_sha1,
        "name": meta.name,
    }
    fields.update(changes)
    return ev.Handshake(**fields)  # type: ignore[arg-type]


def bitfield(full: bool = False, meta: Metainfo = META) -> ev.Bitfield:
    bits = Bits.full(meta.piece_count) if full else Bits(meta.piece_count)
    return ev.Bitfield(bits=bits.to_bytes())


def drain(conn: Connection) -> list[ev.ReceivedEvent]:
    """All events currently parseable (bounded: a frame is consumed per event)."""
    out: list[ev.ReceivedEvent] = []
    for _ in range(100_000):
        event = conn.next_event()
        if event is ev.NEED_DATA:
            return out
        out.append(event)
        if isinstance(event, ev.ConnectionClosed):
            return out
    raise AssertionError("next_event never asked for data")


def feed(conn: Connection, *events: ev.Event) -> list[ev.ReceivedEvent]:
    """Feed encoded events (as the peer would send them) and drain."""
    conn.receive_data(b"".join(codec.encode(e) for e in events))
    return drain(conn)


def active_pair() -> tuple[Connection, Connection]:
    """(acceptor, dialer) after handshakes and bitfields; the acceptor seeds."""
    acceptor = Connection(Role.ACCEPTOR, SHARE_ID)
    dialer = Connection(Role.DIALER)
    dialer.receive_data(acceptor.send(handshake(b"a")))
    assert drain(dialer) == [handshake(b"a")]
    acceptor.receive_data(dialer.send(handshake(b"d")) + dialer.send(bitfield()))
    assert drain(acceptor) == [handshake(b"d"), bitfield()]
    dialer.receive_data(acceptor.send(bitfield(True)))
    assert drain(dialer) == [bitfield(True)]
    return acceptor, dialer
