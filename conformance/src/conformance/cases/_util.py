"""Small pieces several case modules need."""

from __future__ import annotations

from p2pshare_core import constants as C
from p2pshare_core.errors import ErrorCode

from conformance import craft
from conformance.context import CaseContext
from conformance.expect import ExpectClose, ExpectMessage
from conformance.session import Session
from conformance.wire import Wire

E = ErrorCode


def probe_block(ctx: CaseContext) -> tuple[int, int, int]:
    """A small valid request triple: the start of the first held piece (or piece 0)."""
    held = ctx.target.pieces_held()
    index = held[0] if held else 0
    length = min(ctx.target.summary.piece_length(index), 16_384, C.MAX_BLOCK_LENGTH)
    return index, 0, length


def sentinel(session: Session) -> None:
    """Prove the connection is still alive and answering: one request, exactly one reply."""
    index, offset, length = probe_block(session.ctx)
    session.write(craft.request(index, offset, length))
    session.expect_reply(index, offset, length)


def expect_error_close(wire: Wire, *codes: ErrorCode, error_required: bool = True) -> None:
    wire.expect(ExpectClose(tuple(int(c) for c in codes) or None, error_required=error_required))


def read_handshake(wire: Wire) -> None:
    wire.expect(ExpectMessage(("handshake",), skip=("keepalive",)))
