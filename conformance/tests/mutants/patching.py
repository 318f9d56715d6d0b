"""Tools to break the reference node from inside: rewrite the frames its core Connection reads
or writes, or replace one of its checks.

Everything here runs in the launched node process (launch.py), before the node starts. The
frame filters work on whole frames: bytes the node receives are cut into frames first, so a
rewrite sees exactly one frame whatever the TCP segmentation was.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from p2pshare_core import constants as C
from p2pshare_core.connection import Connection
from p2pshare_core.swarm import Swarm

InboundRewrite = Callable[[Connection, bytes], bytes]
OutboundRewrite = Callable[[Connection, Any, bytes], bytes]


def frames_of(data: bytes) -> list[bytes]:
    """Split whole frames (the node's own output is always whole frames)."""
    out, pos = [], 0
    while pos + 4 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append(data[pos : pos + 4 + length])
        pos += 4 + length
    if pos < len(data):
        out.append(data[pos:])
    return out


def frame(message_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">IB", 1 + len(payload), message_id) + payload


def inbound(
    rewrite: InboundRewrite, *, on_eof: Callable[[Connection, bytes], bytes] | None = None
) -> None:
    """Feed the Connection `rewrite(conn, frame)` instead of each received frame.

    `on_eof(conn, leftover)` decides what happens to a partial frame at end of stream (default:
    pass it on). An oversize length stops the filtering for that connection (passed through).
    """
    original = Connection.receive_data
    # Every byte must pass through receive_data: no reading straight into the buffer.
    Swarm.get_buffer = lambda self, conn_id, size: None  # type: ignore[method-assign]

    def receive_data(self: Connection, data: Any) -> None:
        state = self.__dict__.setdefault("_mutant_in", {"buf": bytearray(), "raw": False})
        if state["raw"]:
            original(self, data)
            return
        buf: bytearray = state["buf"]
        if not data:  # end of stream
            leftover = bytes(buf)
            buf.clear()
            rest = on_eof(self, leftover) if on_eof else leftover
            if rest:
                original(self, rest)
            original(self, b"")
            return
        buf += bytes(data)
        out = bytearray()
        while len(buf) >= 4:
            (length,) = struct.unpack_from(">I", buf)
            if length > C.MAX_FRAME_LENGTH:
                out += buf
                buf.clear()
                state["raw"] = True
                break
            if len(buf) < 4 + length:
                break
            raw = bytes(buf[: 4 + length])
            del buf[: 4 + length]
            out += rewrite(self, raw)
        if out:
            original(self, bytes(out))

    Connection.receive_data = receive_data  # type: ignore[method-assign]


def outbound(rewrite: OutboundRewrite) -> None:
    """Replace the frame(s) `Connection.send` returns by `rewrite(conn, event, data)`."""
    original = Connection.send

    def send(self: Connection, event: Any) -> bytes:
        data = original(self, event)
        return rewrite(self, event, data) if data else data

    Connection.send = send  # type: ignore[method-assign]


def wrap(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace `owner.name` by `make(original)`."""
    setattr(owner, name, make(getattr(owner, name)))


def msg_id(raw: bytes) -> int | None:
    return raw[4] if len(raw) > 4 else None
