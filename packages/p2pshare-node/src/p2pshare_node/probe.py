"""Ask a peer which share it serves (for `get HOST:PORT`, a link without a share id).

The acceptor sends its handshake as soon as a connection is accepted, so reading one frame is
enough; knowing the share id before the swarm starts lets the node find a resume state file
and report "unreachable" or "not a p2pshare peer" clearly instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import struct

from p2pshare_core.codec import decode
from p2pshare_core.constants import MAX_FRAME_LENGTH
from p2pshare_core.errors import ProtocolError
from p2pshare_core.events import Error, Handshake

from p2pshare_node.errors import ErrorKind, NodeError


async def probe_share(peers: tuple[tuple[str, int], ...], timeout: float) -> Handshake:
    """Return the handshake of the first peer that answers; NodeError otherwise."""
    if not peers:
        raise NodeError(ErrorKind.UNREACHABLE, "no peer to download from")
    problems: list[str] = []
    protocol_problem = False
    for host, port in peers:
        try:
            handshake = await asyncio.wait_for(_read_handshake(host, port), timeout)
        except (TimeoutError, OSError) as exc:
            reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else exc.strerror or exc
            problems.append(f"{host}:{port}: {reason}")
            continue
        except NodeError as exc:
            problems.append(f"{host}:{port}: {exc.message}")
            protocol_problem = True
            continue
        return handshake
    kind = ErrorKind.PROTOCOL if protocol_problem else ErrorKind.UNREACHABLE
    raise NodeError(kind, "cannot reach any peer: " + "; ".join(problems))


async def _read_handshake(host: str, port: int) -> Handshake:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                header = await reader.readexactly(4)
                (length,) = struct.unpack(">I", header)
                if length == 0:
                    continue
                if length > MAX_FRAME_LENGTH:
                    raise NodeError(ErrorKind.PROTOCOL, "not a p2pshare peer (frame too large)")
                body = await reader.readexactly(length)
            except asyncio.IncompleteReadError:
                raise NodeError(
                    ErrorKind.PROTOCOL, "the peer closed the connection before its handshake"
                ) from None
            try:
                event = decode(body[0], body[1:])
            except ProtocolError as exc:
                raise NodeError(ErrorKind.PROTOCOL, f"not a p2pshare peer ({exc})") from None
            if isinstance(event, Handshake):
                return event
            if isinstance(event, Error):
                raise NodeError(ErrorKind.PROTOCOL, f"the peer refused: {event.reason}")
            raise NodeError(ErrorKind.PROTOCOL, "the peer did not start with a handshake")
    finally:
        writer.close()
