"""Section 4, framing: length prefixes, keepalives, unknown ids, the size limit, torn writes."""

from __future__ import annotations

import struct

from p2pshare_core import constants as C

from conformance import craft
from conformance.cases._util import E, expect_error_close, probe_block, read_handshake, sentinel
from conformance.context import CaseContext
from conformance.expect import ExpectClose, ExpectMessage
from conformance.frames import HARMLESS
from conformance.outcomes import Unsupported
from conformance.registry import case
from conformance.session import open_session, our_handshake

SECTION = "framing"


@case(
    "target-frames-well-formed",
    section=SECTION,
    requirements=("FRAME-1", "FRAME-4", "FRAME-6", "TERM-1", "TERM-2"),
)
def target_frames_well_formed(ctx: CaseContext) -> None:
    """Every frame the target sends in a normal exchange decodes under the spec's layouts."""
    s = open_session(ctx)
    s.write(craft.metainfo_request(0) + craft.interested())
    s.wire.expect(ExpectMessage(("metainfo_data", "metainfo_reject"), (("chunk", 0),)))
    sentinel(s)


@case("keepalive-accepted", section=SECTION, requirements=("FRAME-2",))
def keepalive_accepted(ctx: CaseContext) -> None:
    """Keepalives (length 0) in BITFIELD and ACTIVE state are accepted and change nothing."""
    wire = ctx.connect()
    read_handshake(wire)
    wire.write(our_handshake(ctx, peer_id=ctx.peer_id()) + craft.keepalive())
    wire.write(craft.keepalive() + craft.bitfield(craft.empty_bitfield(ctx.target.piece_count)))
    wire.expect(ExpectMessage(("bitfield",), skip=("keepalive",)))
    wire.write(craft.keepalive() * 3)
    index, offset, length = probe_block(ctx)
    wire.write(craft.request(index, offset, length))
    wire.expect(ExpectMessage(("piece", "reject"), (("index", index), ("offset", offset))))


@case("unknown-id-skipped", section=SECTION, requirements=("FRAME-5",))
def unknown_id_skipped(ctx: CaseContext) -> None:
    """Frames with unassigned ids (0x10..0xFF) are skipped silently in ACTIVE state."""
    s = open_session(ctx)
    s.write(
        craft.frame(craft.UNKNOWN_ID, bytes(range(200))) + craft.frame(0xFF) + craft.frame(0x10)
    )
    sentinel(s)


@case("unknown-id-before-handshake", section=SECTION, requirements=("FRAME-5",))
def unknown_id_before_handshake(ctx: CaseContext) -> None:
    """An unassigned-id frame before our handshake is skipped too (extensions announce first)."""
    wire = ctx.connect()
    read_handshake(wire)
    wire.write(
        craft.frame(0x42, b"extension hello")
        + our_handshake(ctx, peer_id=ctx.peer_id())
        + craft.bitfield(craft.empty_bitfield(ctx.target.piece_count))
    )
    wire.expect(ExpectMessage(("bitfield",), skip=("keepalive",)))
    index, offset, length = probe_block(ctx)
    wire.write(craft.request(index, offset, length))
    wire.expect(ExpectMessage(("piece", "reject"), (("index", index), ("offset", offset))))


@case("max-length-frame-skipped", section=SECTION, requirements=("FRAME-3", "FRAME-5", "TERM-4"))
def max_length_frame_skipped(ctx: CaseContext) -> None:
    """An unknown frame of exactly MAX_FRAME_LENGTH is legal: skipped, connection kept."""
    s = open_session(ctx)
    s.write(craft.frame(craft.UNKNOWN_ID, bytes(C.MAX_FRAME_LENGTH - 1)))
    sentinel(s)


@case("coalesced-messages", section=SECTION, requirements=("FRAME-1",))
def coalesced_messages(ctx: CaseContext) -> None:
    """Handshake, bitfield, keepalive and a request in a single TCP write are all processed."""
    wire = ctx.connect()
    read_handshake(wire)
    index, offset, length = probe_block(ctx)
    wire.write(
        our_handshake(ctx, peer_id=ctx.peer_id())
        + craft.bitfield(craft.empty_bitfield(ctx.target.piece_count))
        + craft.keepalive()
        + craft.request(index, offset, length)
    )
    wire.expect(ExpectMessage(("bitfield",), skip=("keepalive",)))
    wire.expect(ExpectMessage(("piece", "reject"), (("index", index), ("offset", offset))))


@case("byte-at-a-time", section=SECTION, requirements=("FRAME-1", "SEC-3"), kind="hostile")
def byte_at_a_time(ctx: CaseContext) -> None:
    """A slow sender writing one byte per TCP write is served normally."""
    wire = ctx.connect()
    read_handshake(wire)
    index, offset, length = probe_block(ctx)
    data = (
        our_handshake(ctx, peer_id=ctx.peer_id())
        + craft.bitfield(craft.empty_bitfield(ctx.target.piece_count))
        + craft.request(index, offset, length)
    )
    wire.write_split(data, list(range(1, len(data))), delay=0.002)
    wire.expect(ExpectMessage(("bitfield",), skip=("keepalive",)))
    wire.expect(ExpectMessage(("piece", "reject"), (("index", index), ("offset", offset))))


@case(
    "oversize-frame-closes",
    section=SECTION,
    requirements=("FRAME-3", "ERR-3", "SEC-2"),
    kind="hostile",
)
def oversize_frame_closes(ctx: CaseContext) -> None:
    """A length over MAX_FRAME_LENGTH: FRAME_TOO_LARGE and close, without waiting for the body."""
    s = open_session(ctx)
    s.write(craft.length_prefix(C.MAX_FRAME_LENGTH + 1) + bytes([craft.HAVE]))
    expect_error_close(s.wire, E.FRAME_TOO_LARGE)


@case(
    "oversize-unknown-frame-closes",
    section=SECTION,
    requirements=("FRAME-3", "FRAME-5"),
    kind="hostile",
)
def oversize_unknown_frame_closes(ctx: CaseContext) -> None:
    """The limit also applies to frames that would be skipped: close, do not wait for them."""
    s = open_session(ctx)
    s.write(craft.length_prefix(0xFFFF_FFFF) + bytes([craft.UNKNOWN_ID]))
    expect_error_close(s.wire, E.FRAME_TOO_LARGE)


@case("oversize-first-frame-closes", section=SECTION, requirements=("FRAME-3",), kind="hostile")
def oversize_first_frame_closes(ctx: CaseContext) -> None:
    """An oversize length in place of our handshake is refused as soon as its 4 bytes arrive."""
    wire = ctx.connect()
    read_handshake(wire)
    wire.write(craft.length_prefix(C.MAX_FRAME_LENGTH + 1))
    expect_error_close(wire, E.FRAME_TOO_LARGE)


@case(
    "malformed-payload",
    section=SECTION,
    requirements=("FRAME-7", "ERR-1", "ERR-3", "ERR-5"),
    kind="hostile",
)
def malformed_payload(ctx: CaseContext) -> None:
    """A have message with a 3-byte payload is MALFORMED: error then close, nothing after."""
    s = open_session(ctx)
    s.write(craft.frame(craft.HAVE, b"\x00\x00\x00"))
    expect_error_close(s.wire, E.MALFORMED)


@case("payload-on-empty-message", section=SECTION, requirements=("FRAME-7",), kind="hostile")
def payload_on_empty_message(ctx: CaseContext) -> None:
    """A choke carrying a payload byte is MALFORMED."""
    s = open_session(ctx)
    s.write(craft.frame(craft.CHOKE, b"\x00"))
    expect_error_close(s.wire, E.MALFORMED)


@case("trailing-bytes", section=SECTION, requirements=("FRAME-7",), kind="hostile")
def trailing_bytes(ctx: CaseContext) -> None:
    """Fixed-size messages with one byte too many (have, request, cancel, metainfo_request,
    unchoke): MALFORMED, each on its own connection."""
    index, offset, length = probe_block(ctx)
    for message in (
        craft.frame(craft.HAVE, struct.pack(">IB", index, 0)),
        craft.frame(craft.REQUEST, struct.pack(">IIIB", index, offset, length, 0)),
        craft.frame(craft.CANCEL, struct.pack(">IIIB", index, offset, length, 0)),
        craft.frame(craft.METAINFO_REQUEST, struct.pack(">IB", 0, 0)),
        craft.frame(craft.UNCHOKE, b"\x00"),
    ):
        s = open_session(ctx)
        s.write(message)
        expect_error_close(s.wire, E.MALFORMED)


@case("truncated-frame-eof", section=SECTION, requirements=("FRAME-8", "ERR-3"), kind="hostile")
def truncated_frame_eof(ctx: CaseContext) -> None:
    """End of stream inside a frame's body, then inside a length prefix: the target fails the
    connection with TRUNCATED. We close only our sending direction, so the error can still
    reach us and is required."""
    index, offset, length = probe_block(ctx)
    for cut in (7, 2):
        s = open_session(ctx)
        s.write(craft.request(index, offset, length)[:cut])
        s.wire.shutdown_write()
        expect_error_close(s.wire, E.TRUNCATED)


@case("eof-at-boundary-closes", section=SECTION, requirements=("FRAME-8", "STATE-5", "DUP-8"))
def eof_at_boundary_closes(ctx: CaseContext) -> None:
    """End of stream at a frame boundary is a normal close: any error must not be a fault code,
    and the target closes its side too (DUP-8: it does not keep a half-closed connection)."""
    s = open_session(ctx)
    s.wire.shutdown_write()
    expect_error_close(s.wire, E.SHUTDOWN, error_required=False)


def _timer(ctx: CaseContext, value: float | None, option: str, default: float) -> float:
    """A target timer the user told us; the defaults exceed the suite's time budget."""
    if value is None:
        raise Unsupported(
            f"pass {option} with the target's setting (the default {default:g} s is longer "
            "than a suite run); a short setting shows the same behaviour"
        )
    return value


@case("keepalive-sent", section=SECTION, requirements=("FRAME-9",), level="SHOULD")
def keepalive_sent(ctx: CaseContext) -> None:
    """A target that has sent nothing for KEEPALIVE_INTERVAL sends a keepalive."""
    interval = _timer(ctx, ctx.opts.keepalive_interval, "--keepalive-interval", 30)
    s = open_session(ctx)
    others = tuple(n for n in HARMLESS if n != "keepalive")
    s.wire.expect(ExpectMessage(("keepalive",), skip=others), timeout=interval + ctx.opts.timeout)


@case("idle-timeout", section=SECTION, requirements=("FRAME-10",), level="SHOULD")
def idle_timeout(ctx: CaseContext) -> None:
    """A peer silent for IDLE_TIMEOUT (not even a keepalive) is dropped with TIMEOUT."""
    idle = _timer(ctx, ctx.opts.idle_timeout, "--idle-timeout", 120)
    s = open_session(ctx)
    s.wire.expect(ExpectClose((int(E.TIMEOUT),)), timeout=idle + ctx.opts.timeout)
