"""Section 5, handshake: the acceptor speaks first, fields are valid, mismatches are refused."""

from __future__ import annotations

from typing import Any

from p2pshare_core import constants as C
from p2pshare_core.errors import LocalProtocolError
from p2pshare_core.events import Handshake
from p2pshare_core.tree import check_summary

from conformance import craft
from conformance.cases._util import E, expect_error_close, read_handshake, sentinel
from conformance.context import CaseContext
from conformance.expect import ExpectClose, ExpectMessage
from conformance.outcomes import Fail
from conformance.registry import case
from conformance.session import Session, open_session, our_handshake

SECTION = "handshake"


@case("acceptor-sends-first", section=SECTION, requirements=("HS-11", "HS-1"))
def acceptor_sends_first(ctx: CaseContext) -> None:
    """On accept, the target sends its handshake at once, without waiting for ours; it is the
    very first frame (not even a keepalive before it)."""
    wire = ctx.connect()
    wire.expect(ExpectMessage(("handshake",), skip=()))


@case(
    "fields-valid",
    section=SECTION,
    requirements=("HS-1", "HS-5", "HS-8", "HS-9", "NAME-1", "TERM-1", "EXT-1", "EXT-4"),
)
def fields_valid(ctx: CaseContext) -> None:
    """The target's handshake: magic, version 1, flags 0, its port, sane geometry, safe name."""
    wire = ctx.connect()
    frame = wire.expect(ExpectMessage(("handshake",), skip=()))
    assert frame is not None and isinstance(frame.event, Handshake)
    hs = frame.event
    if frame.raw[5:9] != C.PROTOCOL_MAGIC:
        raise Fail("bad magic", expected="P2PS [HS-1]", actual=repr(frame.raw[5:9]))
    if hs.version != C.PROTOCOL_VERSION:
        raise Fail("wrong version", expected="version 1 [HS-1]", actual=str(hs.version))
    if hs.flags & 0x80:
        raise Fail(
            "reserved capability bit 7 set", expected="bit 7 clear [EXT-4]", actual=hex(hs.flags)
        )
    if hs.flags & ~ASSIGNED_CAPABILITIES:
        raise Fail(
            "capability bits the registry does not assign",
            expected=f"flags within {ASSIGNED_CAPABILITIES:#04x} [EXT-1]",
            actual=hex(hs.flags),
        )
    if hs.listen_port != ctx.opts.port:
        raise Fail(
            "listen_port is not the port we connected to",
            expected=f"{ctx.opts.port} [HS-8]",
            actual=str(hs.listen_port),
        )
    ps = hs.piece_size
    if not (C.MIN_PIECE_SIZE <= ps <= C.MAX_PIECE_SIZE and ps & (ps - 1) == 0):
        raise Fail("bad piece size", expected="power of two, 16 KiB..64 MiB [HS-9]", actual=str(ps))
    if hs.summary.piece_count > C.MAX_PIECES or hs.file_size > C.MAX_FILE_SIZE:
        raise Fail(
            "share too large",
            expected=f"<= {C.MAX_PIECES} pieces [HS-9]",
            actual=f"{hs.file_size} bytes",
        )
    try:
        check_summary(hs.summary)
    except LocalProtocolError as exc:
        raise Fail(
            "unsafe file name",
            expected="a SAFE NAME [NAME-1], or a tree's SAFE root name, '/' and tag [TREE-9]",
            actual=str(exc),
        ) from exc


@case("same-peer-id", section=SECTION, requirements=("HS-6",))
def same_peer_id(ctx: CaseContext) -> None:
    """The target uses one peer_id on all its connections."""
    ids = set()
    for _ in range(3):
        frame = ctx.connect().expect(ExpectMessage(("handshake",), skip=("keepalive",)))
        assert frame is not None
        ids.add(str(frame.fields["peer_id"]))
    ids.add(ctx.target.peer_id.hex())
    if len(ids) != 1:
        raise Fail(
            "peer_id changes between connections",
            expected="one peer_id [HS-6]",
            actual=", ".join(sorted(ids)),
        )


def _bad_handshake(ctx: CaseContext, *codes: E, **over: Any) -> None:
    wire = ctx.connect()
    read_handshake(wire)
    fields: dict[str, Any] = {"peer_id": ctx.peer_id(), **over}
    wire.write(our_handshake(ctx, **fields))
    expect_error_close(wire, *codes)


def _raw_handshake(ctx: CaseContext, payload: bytes, *codes: E) -> None:
    wire = ctx.connect()
    read_handshake(wire)
    wire.write(craft.frame(craft.HANDSHAKE, payload))
    expect_error_close(wire, *codes)


@case("bad-magic", section=SECTION, requirements=("HS-2", "ERR-1", "ERR-3"), kind="hostile")
def bad_magic(ctx: CaseContext) -> None:
    """A handshake with the wrong magic: error BAD_HANDSHAKE then close."""
    _bad_handshake(ctx, E.BAD_HANDSHAKE, magic=b"P2PX")


@case("magic-only", section=SECTION, requirements=("HS-2", "HS-3"), kind="hostile")
def magic_only(ctx: CaseContext) -> None:
    """A handshake payload of 3 bytes, then one of just the magic: BAD_HANDSHAKE."""
    _raw_handshake(ctx, b"P2P", E.BAD_HANDSHAKE)
    _raw_handshake(ctx, b"P2PS", E.BAD_HANDSHAKE)


@case("unsupported-version", section=SECTION, requirements=("HS-3",), kind="hostile")
def unsupported_version(ctx: CaseContext) -> None:
    """Version 2 with a layout version 1 cannot parse: UNSUPPORTED_VERSION (checked first)."""
    _raw_handshake(ctx, b"P2PS\x02future layout", E.UNSUPPORTED_VERSION)


@case("truncated-handshake", section=SECTION, requirements=("HS-4",), kind="hostile")
def truncated_handshake(ctx: CaseContext) -> None:
    """A version-1 handshake cut inside its fixed fields: BAD_HANDSHAKE."""
    full = our_handshake(ctx, peer_id=ctx.peer_id())
    _raw_handshake(ctx, full[5:50], E.BAD_HANDSHAKE)


@case("handshake-size-mismatch", section=SECTION, requirements=("HS-4",), kind="hostile")
def handshake_size_mismatch(ctx: CaseContext) -> None:
    """A handshake one byte longer than 94 + name_len: BAD_HANDSHAKE."""
    full = our_handshake(ctx, peer_id=ctx.peer_id())
    _raw_handshake(ctx, full[5:] + b"x", E.BAD_HANDSHAKE)


@case("name-not-utf8", section=SECTION, requirements=("HS-4", "TERM-2"), kind="hostile")
def name_not_utf8(ctx: CaseContext) -> None:
    """A handshake whose name is not valid UTF-8: BAD_HANDSHAKE."""
    _bad_handshake(ctx, E.BAD_HANDSHAKE, name=b"\xff\xfe.bin")


@case("impossible-geometry", section=SECTION, requirements=("HS-9", "ERR-11"), kind="hostile")
def impossible_geometry(ctx: CaseContext) -> None:
    """A piece size that is not a power of two, then a file over MAX_FILE_SIZE: BAD_HANDSHAKE,
    not SHARE_MISMATCH (ERR-11 puts HS-9 before the summary check HS-15)."""
    _bad_handshake(ctx, E.BAD_HANDSHAKE, piece_size=20_000)
    _bad_handshake(ctx, E.BAD_HANDSHAKE, file_size=C.MAX_FILE_SIZE + 1)


@case("unsafe-name", section=SECTION, requirements=("HS-10", "NAME-1", "ERR-11"), kind="hostile")
def unsafe_name(ctx: CaseContext) -> None:
    """A handshake naming "../evil": BAD_METAINFO, not SHARE_MISMATCH (ERR-11: HS-10 first)."""
    _bad_handshake(ctx, E.BAD_METAINFO, name="../evil")


@case("unsafe-name-windows", section=SECTION, requirements=("HS-10", "NAME-1"), kind="hostile")
def unsafe_name_windows(ctx: CaseContext) -> None:
    """Names unsafe since 1.1: a C1 control, a leading U+FEFF, COM\u00b9, "NUL .txt"."""
    for name in ("a\x85b.bin", "\ufeffx.bin", "COM\u00b9", "NUL .txt"):
        _bad_handshake(ctx, E.BAD_METAINFO, name=name)


@case("share-mismatch", section=SECTION, requirements=("HS-14", "ERR-3"), kind="hostile")
def share_mismatch(ctx: CaseContext) -> None:
    """A handshake for another share ID: error SHARE_MISMATCH then close."""
    other = bytes(b ^ 0xFF for b in ctx.target.share_id)
    _bad_handshake(ctx, E.SHARE_MISMATCH, share_id=other)


@case("summary-mismatch", section=SECTION, requirements=("HS-15", "META-8"), kind="hostile")
def summary_mismatch(ctx: CaseContext) -> None:
    """The right share ID with another file size, then another file_sha1: SHARE_MISMATCH."""
    _bad_handshake(ctx, E.SHARE_MISMATCH, file_size=ctx.target.summary.file_size + 1)
    summary = ctx.target.summary
    if summary.is_tree:  # another tree tag that is still a valid one [TREE-8, TREE-9]
        size = summary.metainfo_size
        other_size = size + 1 if size < C.MAX_METAINFO_SIZE else size - 1
        _bad_handshake(ctx, E.SHARE_MISMATCH, file_sha1=other_size.to_bytes(4, "big") + bytes(16))
    else:
        _bad_handshake(ctx, E.SHARE_MISMATCH, file_sha1=bytes(20))
    other = "other-" + ctx.target.summary.name if len(ctx.target.summary.name) < 240 else "x.bin"
    _bad_handshake(ctx, E.SHARE_MISMATCH, name=other)
    size = ctx.target.summary.piece_size
    _bad_handshake(
        ctx, E.SHARE_MISMATCH, piece_size=size * 2 if size < C.MAX_PIECE_SIZE else size // 2
    )


@case("self-with-wrong-share", section=SECTION, requirements=("ERR-11", "HS-14"), kind="hostile")
def self_with_wrong_share(ctx: CaseContext) -> None:
    """The target's own peer ID *and* another share ID: SHARE_MISMATCH (ERR-11 orders the
    share checks before the self-connection check DUP-3)."""
    other = bytes(b ^ 0xFF for b in ctx.target.share_id)
    _bad_handshake(ctx, E.SHARE_MISMATCH, share_id=other, peer_id=ctx.target.peer_id)


ASSIGNED_CAPABILITIES = 0x01
"""Capability bits the spec's registry assigns (section 5.1): bit 0, SPAN, since 1.2."""


@case("flags-ignored", section=SECTION, requirements=("HS-5", "EXT-2"))
def flags_ignored(ctx: CaseContext) -> None:
    """Capability bits the registry does not assign (all of them) are ignored, not refused."""
    wire = ctx.connect()
    read_handshake(wire)
    wire.write(
        our_handshake(ctx, peer_id=ctx.peer_id(), flags=0xFF & ~ASSIGNED_CAPABILITIES)
        + craft.bitfield(craft.empty_bitfield(ctx.target.piece_count))
    )
    wire.expect(ExpectMessage(("bitfield",), skip=("keepalive",)))
    sentinel(Session(ctx=ctx, wire=wire, peer_id=b"", their_handshake=ctx.target.handshake))


@case("message-before-handshake", section=SECTION, requirements=("HS-1", "STATE-2"), kind="hostile")
def message_before_handshake(ctx: CaseContext) -> None:
    """Anything but a handshake (or an unassigned id) first: UNEXPECTED_MESSAGE."""
    wire = ctx.connect()
    read_handshake(wire)
    wire.write(craft.interested())
    expect_error_close(wire, E.UNEXPECTED_MESSAGE)


@case("keepalive-before-handshake", section=SECTION, requirements=("STATE-2",), kind="hostile")
def keepalive_before_handshake(ctx: CaseContext) -> None:
    """A keepalive in HANDSHAKE state is not allowed by the table: UNEXPECTED_MESSAGE."""
    wire = ctx.connect()
    read_handshake(wire)
    wire.write(craft.keepalive())
    expect_error_close(wire, E.UNEXPECTED_MESSAGE)


@case("second-handshake", section=SECTION, requirements=("STATE-2",), kind="hostile")
def second_handshake(ctx: CaseContext) -> None:
    """A handshake in ACTIVE state: UNEXPECTED_MESSAGE."""
    s = open_session(ctx)
    s.write(our_handshake(ctx, peer_id=s.peer_id))
    expect_error_close(s.wire, E.UNEXPECTED_MESSAGE)


@case("handshake-timeout", section=SECTION, requirements=("HS-18",), level="SHOULD")
def handshake_timeout(ctx: CaseContext) -> None:
    """A peer that never sends its handshake is dropped (TIMEOUT) after HANDSHAKE_TIMEOUT."""
    wire = ctx.connect()
    read_handshake(wire)
    wire.expect(
        ExpectClose((int(E.TIMEOUT),), error_required=False),
        timeout=C.HANDSHAKE_TIMEOUT + ctx.opts.timeout + 2,
    )
