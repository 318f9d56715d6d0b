"""Section 6, bitfield: sent right after the handshake, exact length, spare bits zero, only once."""

from __future__ import annotations

from p2pshare_core.bitfield import Bitfield

from conformance import craft
from conformance.cases._util import E, expect_error_close, read_handshake
from conformance.context import CaseContext
from conformance.expect import ExpectMessage
from conformance.outcomes import Fail, Unsupported
from conformance.registry import case
from conformance.session import open_session, our_handshake

SECTION = "bitfield"


@case("sent-after-handshake", section=SECTION, requirements=("BF-1", "BF-3"))
def sent_after_handshake(ctx: CaseContext) -> None:
    """The frame after the target's handshake is a bitfield of ceil(n/8) bytes, spare bits 0."""
    wire = ctx.connect()
    read_handshake(wire)
    frame = wire.expect(ExpectMessage(("bitfield",), skip=("keepalive",)))
    assert frame is not None
    bits = bytes.fromhex(str(frame.fields["bits"]))
    try:
        Bitfield.from_bytes(ctx.target.piece_count, bits)
    except ValueError as exc:
        raise Fail(
            "invalid bitfield",
            expected=f"{(ctx.target.piece_count + 7) // 8} bytes, spare bits 0 [BF-1, BF-3]",
            actual=f"{bits.hex()} ({exc})",
        ) from exc


def _after_handshake(ctx: CaseContext, tail: bytes, code: E) -> None:
    wire = ctx.connect()
    read_handshake(wire)
    wire.write(our_handshake(ctx, peer_id=ctx.peer_id()) + tail)
    expect_error_close(wire, code)


@case("wrong-length", section=SECTION, requirements=("BF-2",), kind="hostile")
def wrong_length(ctx: CaseContext) -> None:
    """A bitfield one byte too long: error MALFORMED then close."""
    n = ctx.target.piece_count
    _after_handshake(ctx, craft.bitfield(craft.empty_bitfield(n) + b"\x00"), E.MALFORMED)


@case("spare-bits-set", section=SECTION, requirements=("BF-3",), kind="hostile")
def spare_bits_set(ctx: CaseContext) -> None:
    """A bitfield with a spare bit set: error MALFORMED then close."""
    n = ctx.target.piece_count
    if n % 8 == 0:
        raise Unsupported("the share's piece count is a multiple of 8: no spare bits")
    bits = bytearray(craft.empty_bitfield(n))
    bits[-1] |= 1
    _after_handshake(ctx, craft.bitfield(bytes(bits)), E.MALFORMED)


@case(
    "missing-bitfield",
    section=SECTION,
    requirements=("BF-1", "STATE-2", "STATE-1"),
    kind="hostile",
)
def missing_bitfield(ctx: CaseContext) -> None:
    """A request where the bitfield must come: error UNEXPECTED_MESSAGE then close (the target
    has sent its own bitfield already: only our direction's state machine is in BITFIELD)."""
    _after_handshake(ctx, craft.request(0, 0, 1), E.UNEXPECTED_MESSAGE)


@case("second-bitfield", section=SECTION, requirements=("BF-1", "STATE-2"), kind="hostile")
def second_bitfield(ctx: CaseContext) -> None:
    """A bitfield in ACTIVE state: error UNEXPECTED_MESSAGE then close."""
    s = open_session(ctx)
    s.write(craft.bitfield(craft.empty_bitfield(ctx.target.piece_count)))
    expect_error_close(s.wire, E.UNEXPECTED_MESSAGE)
