"""Section 5.2, extension SPAN (multi-piece requests), in both modes.

Without the bit in force (any target): span frames are unassigned ids, skipped without a reply
and without harm (SPAN-1). With it (a target whose handshake sets bit 0; SPAN is optional, so a
target without it makes these cases unsupported): spans get exactly one whole reply whose
pieces match their hashes, the short last piece included, and broken span frames get the
spec's errors.
"""

from __future__ import annotations

import time

from p2pshare_core import constants as C

from conformance import craft
from conformance.cases._util import E, expect_error_close, sentinel
from conformance.cases.transfer import judge_duplicate, plug
from conformance.context import CaseContext
from conformance.expect import ExpectMessage
from conformance.frames import Received, piece_data
from conformance.outcomes import Fail, Unsupported
from conformance.registry import case
from conformance.session import (
    NOT_CHOKE,
    Session,
    check_piece_hash,
    open_session,
    our_handshake,
)

SECTION = "span"
SPAN_FRAMES = ("span_request", "span_data", "span_reject", "span_cancel")


def _span_session(ctx: CaseContext) -> Session:
    """A session with SPAN in force: both handshakes set bit 0 [EXT-3]."""
    if not ctx.target.handshake.flags & craft.SPAN_BIT:
        raise Unsupported("the target does not offer extension SPAN (bit 0); it is optional")
    return open_session(ctx, flags=craft.SPAN_BIT)


def _held_run(ctx: CaseContext, *, at_end: bool = False) -> tuple[int, int]:
    """(index, count): consecutive held pieces within MAX_SPAN_LENGTH, ending at the last
    piece if `at_end`; as long as allowed (2 or more where the share permits)."""
    if ctx.target.metainfo is None:
        raise Unsupported(f"no metainfo from the target: {ctx.target.metainfo_error}")
    summary = ctx.target.summary
    held = set(ctx.target.pieces_held())
    n = summary.piece_count
    starts = [n - 1] if at_end else sorted(held)
    for last_or_first in starts:
        if last_or_first not in held or summary.piece_length(last_or_first) > C.MAX_SPAN_LENGTH:
            continue
        lo = hi = last_or_first
        total = summary.piece_length(lo)
        step = -1 if at_end else 1
        while True:
            nxt = (lo if at_end else hi) + step
            if not 0 <= nxt < n or nxt not in held:
                break
            if total + summary.piece_length(nxt) > C.MAX_SPAN_LENGTH:
                break
            total += summary.piece_length(nxt)
            lo, hi = min(lo, nxt), max(hi, nxt)
        return lo, hi - lo + 1
    raise Unsupported("the target holds no piece that fits in a span")


def _expect_span_reply(s: Session, index: int, count: int) -> Received:
    reply = s.wire.expect(
        ExpectMessage(("span_data", "span_reject"), (("index", index), ("count", count)))
    )
    assert reply is not None
    return reply


def _check_span_data(ctx: CaseContext, s: Session, index: int, count: int) -> None:
    """The reply to a span of held pieces, asked while unchoked: every piece's data [SPAN-8]."""
    reply = _expect_span_reply(s, index, count)
    if reply.name == "span_reject":
        if s.choked_since_unchoke():
            raise Unsupported(f"target choked us and rejected span ({index}, {count})")
        raise Fail(
            "a span of announced pieces was rejected while the target was unchoking us",
            expected=f"span_data({index}, {count}) [SPAN-6]",
            actual=reply.describe(),
        )
    data = piece_data(reply)
    summary = ctx.target.summary
    offset = 0
    for i in range(index, index + count):
        length = summary.piece_length(i)
        check_piece_hash(ctx, i, data[offset : offset + length])
        offset += length
    if offset != len(data):
        raise Fail(
            "span data has the wrong size", expected=f"{offset} bytes", actual=str(len(data))
        )


def _no_span_frames(s: Session) -> None:
    sent = [f.describe() for f in s.wire.received if f.name in SPAN_FRAMES]
    if sent:
        raise Fail(
            "span frames on a connection where SPAN is not in force",
            expected="none [SPAN-1, EXT-3]",
            actual=", ".join(sent[:3]),
        )


@case("frames-skipped-without-span", section=SECTION, requirements=("SPAN-1", "EXT-3", "FRAME-5"))
def frames_skipped_without_span(ctx: CaseContext) -> None:
    """We offer no capability: span frames, even malformed or out of range ones, are skipped
    (no reply, no error), and the connection goes on."""
    s = open_session(ctx, flags=0)
    s.ensure_unchoked()
    n = ctx.target.piece_count
    s.write(
        craft.span_request(0, 1)
        + craft.span_request(n, 5)
        + craft.span_cancel(0, 0)
        + craft.span_reject(0, 1)
        + craft.span_data(0, 1, b"\x00" * 10)
        + craft.frame(craft.SPAN_REQUEST, b"\x01")  # malformed if it were in force
    )
    sentinel(s)
    _no_span_frames(s)


@case("span-served", section=SECTION, requirements=("SPAN-5", "SPAN-6", "SPAN-8", "EXT-3"))
def span_served(ctx: CaseContext) -> None:
    """A span of held pieces, asked while unchoked: one span_data whose pieces match their
    hashes."""
    index, count = _held_run(ctx)
    s = _span_session(ctx)
    s.ensure_unchoked()
    s.write(craft.span_request(index, count))
    _check_span_data(ctx, s, index, count)
    sentinel(s)


@case("span-to-the-last-piece", section=SECTION, requirements=("SPAN-2", "SPAN-5", "SPAN-8"))
def span_to_the_last_piece(ctx: CaseContext) -> None:
    """A span ending with the share's (short) last piece: exactly its bytes, no padding."""
    index, count = _held_run(ctx, at_end=True)
    s = _span_session(ctx)
    s.ensure_unchoked()
    s.write(craft.span_request(index, count))
    _check_span_data(ctx, s, index, count)


@case("pipelined-spans-one-reply-each", section=SECTION, requirements=("SPAN-5",))
def pipelined_spans(ctx: CaseContext) -> None:
    """Several spans (and a block request between them) in one write: one reply each."""
    index, count = _held_run(ctx)
    s = _span_session(ctx)
    s.ensure_unchoked()
    spans = [(i, 1) for i in range(index, index + count)]
    s.write(b"".join(craft.span_request(*span) for span in spans) + craft.request(index, 0, 1))
    pending = set(spans)
    block_reply = False
    deadline = time.monotonic() + s.wire.timeout
    while pending or not block_reply:
        frame = s.wire.next_frame(deadline)
        if frame is None:
            raise Fail("closed", expected=f"replies to {sorted(pending)} [SPAN-5]", actual="EOF")
        if frame.name in ("span_data", "span_reject"):
            key = (int(frame.fields["index"]), int(frame.fields["count"]))
            if key not in pending:
                raise Fail(
                    "a second reply, or a reply to no span",
                    expected=f"one of {sorted(pending)} [SPAN-5]",
                    actual=frame.describe(),
                )
            pending.discard(key)
        elif frame.name in ("piece", "reject"):
            block_reply = True
        elif frame.name not in (*NOT_CHOKE, "choke", "unchoke"):
            raise Fail("unexpected frame", expected="span replies", actual=frame.describe())


@case("span-before-unchoke", section=SECTION, requirements=("SPAN-6", "MSG-14"))
def span_before_unchoke(ctx: CaseContext) -> None:
    """A span asked right after the bitfield, before any unchoke: span_reject, or data only
    after an unchoke."""
    index, count = _held_run(ctx)
    if not ctx.target.handshake.flags & craft.SPAN_BIT:
        raise Unsupported("the target does not offer extension SPAN (bit 0); it is optional")
    wire = ctx.connect()
    wire.expect(ExpectMessage(("handshake",), skip=("keepalive",)))
    wire.write(
        our_handshake(ctx, peer_id=ctx.peer_id(), flags=craft.SPAN_BIT)
        + craft.bitfield(craft.empty_bitfield(ctx.target.piece_count))
        + craft.span_request(index, count)
    )
    wire.expect(ExpectMessage(("bitfield",), skip=("keepalive",)))
    reply = wire.expect(
        ExpectMessage(("span_data", "span_reject"), (("index", index), ("count", count)))
    )
    assert reply is not None
    names = [f.name for f in wire.received]
    if reply.name == "span_data" and "unchoke" not in names[: names.index("span_data")]:
        raise Fail(
            "span data served to a peer that was never unchoked",
            expected="span_reject, or unchoke before the data [SPAN-6]",
            actual=" ".join(names),
        )


@case("cancelled-span-still-answered", section=SECTION, requirements=("SPAN-5", "SPAN-9"))
def cancelled_span_still_answered(ctx: CaseContext) -> None:
    """A span cancelled right after it was asked still gets exactly one reply."""
    index, count = _held_run(ctx)
    s = _span_session(ctx)
    s.ensure_unchoked()
    s.write(craft.span_request(index, count) + craft.span_cancel(index, count))
    _expect_span_reply(s, index, count)
    sentinel(s)
    extra = [f for f in s.wire.received if f.name in ("span_data", "span_reject")]
    if len(extra) != 1:
        raise Fail("not exactly one reply", expected="1 [SPAN-5]", actual=str(len(extra)))


@case("unknown-span-cancel-ignored", section=SECTION, requirements=("SPAN-9",))
def unknown_span_cancel_ignored(ctx: CaseContext) -> None:
    """A span_cancel for a span never asked (it may have crossed the reply) is ignored."""
    s = _span_session(ctx)
    s.write(craft.span_cancel(0, 1))
    sentinel(s)


@case("unheld-span-rejected", section=SECTION, requirements=("SPAN-6",))
def unheld_span_rejected(ctx: CaseContext) -> None:
    """A span with a piece missing from the target's bitfield: span_reject, never data."""
    missing = [i for i in range(ctx.target.piece_count) if i not in ctx.target.bitfield]
    if not missing:
        raise Unsupported("the target holds every piece (start it as a partial downloader)")
    s = _span_session(ctx)
    s.ensure_unchoked()
    s.write(craft.span_request(missing[0], 1))
    reply = _expect_span_reply(s, missing[0], 1)
    if reply.name != "span_reject":
        raise Fail(
            "data for a piece not held", expected="span_reject [SPAN-6]", actual=reply.describe()
        )


def _span_error(ctx: CaseContext, message: bytes, code: E) -> None:
    s = _span_session(ctx)
    s.write(message)
    expect_error_close(s.wire, code)


@case("span-past-the-end", section=SECTION, requirements=("SPAN-2",), kind="hostile")
def span_past_the_end(ctx: CaseContext) -> None:
    """A span running past the last piece: OUT_OF_RANGE."""
    _span_error(ctx, craft.span_request(ctx.target.piece_count - 1, 2), E.OUT_OF_RANGE)


@case("span-count-zero", section=SECTION, requirements=("SPAN-2",), kind="hostile")
def span_count_zero(ctx: CaseContext) -> None:
    """A span of no pieces: OUT_OF_RANGE."""
    _span_error(ctx, craft.span_request(0, 0), E.OUT_OF_RANGE)


@case("span-over-max-length", section=SECTION, requirements=("SPAN-2", "TERM-4"), kind="hostile")
def span_over_max_length(ctx: CaseContext) -> None:
    """A span of more than MAX_SPAN_LENGTH bytes, inside the share: OUT_OF_RANGE."""
    summary = ctx.target.summary
    count = C.MAX_SPAN_LENGTH // summary.piece_size + 1
    if count > summary.piece_count or (
        count * summary.piece_size - summary.piece_size + summary.piece_length(count - 1)
        <= C.MAX_SPAN_LENGTH
    ):
        raise Unsupported("the share is too small for a span over MAX_SPAN_LENGTH")
    _span_error(ctx, craft.span_request(0, count), E.OUT_OF_RANGE)


@case("span-cancel-out-of-range", section=SECTION, requirements=("SPAN-2",), kind="hostile")
def span_cancel_out_of_range(ctx: CaseContext) -> None:
    """A span_cancel for piece n: OUT_OF_RANGE (range checks come before 'not outstanding')."""
    _span_error(ctx, craft.span_cancel(ctx.target.piece_count, 1), E.OUT_OF_RANGE)


@case("span-data-unsolicited", section=SECTION, requirements=("SPAN-7",), kind="hostile")
def span_data_unsolicited(ctx: CaseContext) -> None:
    """span_data for a span the target never asked for: UNSOLICITED."""
    length = ctx.target.summary.piece_length(0)
    _span_error(ctx, craft.span_data(0, 1, bytes(length)), E.UNSOLICITED)


@case("span-reject-unsolicited", section=SECTION, requirements=("SPAN-7",), kind="hostile")
def span_reject_unsolicited(ctx: CaseContext) -> None:
    """span_reject for a span the target never asked for: UNSOLICITED."""
    _span_error(ctx, craft.span_reject(0, 1), E.UNSOLICITED)


@case("span-request-malformed", section=SECTION, requirements=("FRAME-7",), kind="hostile")
def span_request_malformed(ctx: CaseContext) -> None:
    """A span_request with a 9-byte payload, where SPAN is in force: MALFORMED."""
    _span_error(ctx, craft.frame(craft.SPAN_REQUEST, bytes(9)), E.MALFORMED)


@case("overlapping-spans", section=SECTION, requirements=("SPAN-4", "SPAN-5"), kind="hostile")
def overlapping_spans(ctx: CaseContext) -> None:
    """The same span twice in one write: UNEXPECTED_MESSAGE if the first was still
    outstanding, else two replies (a target may answer before reading the second). With
    --upload-rate the pair waits behind a plug of large requests, so the error is due."""
    index, count = _held_run(ctx)
    s = _span_session(ctx)
    plugged = bool(plug(ctx, s))
    s.write(craft.span_request(index, count) * 2)

    def is_reply(frame: Received) -> bool:
        return frame.name in ("span_data", "span_reject")

    judge_duplicate(ctx, s, plugged, is_reply, "SPAN-4", "a span overlapping another")


@case(
    "span-pieces-count-as-requests",
    section=SECTION,
    requirements=("SPAN-3", "MSG-5"),
    kind="hostile",
)
def span_pieces_count_as_requests(ctx: CaseContext) -> None:
    """Block requests up to three short of MAX_PEER_REQUESTS, a span of two pieces, then two
    more block requests: the last makes MAX_PEER_REQUESTS + 1 outstanding only if the span's
    pieces count. With --upload-rate everything waits behind a plug, so TOO_MANY_REQUESTS is
    due; a target answering at once may serve it all."""
    index, count = _held_run(ctx)
    if count < 2:
        raise Unsupported("no two consecutive pieces fit in one span")
    s = _span_session(ctx)
    plugged = plug(ctx, s)
    summary = ctx.target.summary
    blocks: list[tuple[int, int, int]] = []
    offset = 0
    while len(blocks) + len(plugged) < C.MAX_PEER_REQUESTS - 1:  # 2 go after the span
        i = len(blocks) % summary.piece_count
        blocks.append((i, offset % summary.piece_length(i), 1))
        if i == summary.piece_count - 1:
            offset += 1
    first, last = blocks[:-2], blocks[-2:]
    s.write(
        b"".join(craft.request(*b) for b in first)
        + craft.span_request(index, 2)
        + b"".join(craft.request(*b) for b in last)
    )
    deadline = time.monotonic() + s.wire.timeout * 5
    replies = 0
    while replies < len(blocks) + 1:
        frame = s.wire.next_frame(deadline)
        if frame is None:
            break
        if frame.name == "error":
            if frame.fields.get("code") != E.TOO_MANY_REQUESTS:
                raise Fail(
                    "wrong error", expected="TOO_MANY_REQUESTS [SPAN-3]", actual=frame.describe()
                )
            return
        if frame.name in ("piece", "reject", "span_data", "span_reject"):
            replies += 1
    if plugged:
        raise Fail(
            "no error although the span's pieces made MAX_PEER_REQUESTS + 1 outstanding",
            expected=f"TOO_MANY_REQUESTS [SPAN-3] (upload limit {ctx.opts.upload_rate} B/s)",
            actual=f"{replies} replies",
        )
