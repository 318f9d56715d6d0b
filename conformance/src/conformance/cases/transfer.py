"""Section 7, piece transfer: exactly one reply, data matches the hash, ranges are enforced."""

from __future__ import annotations

import time
from collections.abc import Callable

from p2pshare_core import constants as C

from conformance import craft
from conformance.cases._util import E, expect_error_close, probe_block, read_handshake, sentinel
from conformance.context import CaseContext
from conformance.expect import ExpectMessage
from conformance.frames import Received
from conformance.outcomes import Closed, Fail, Timeout, Unsupported
from conformance.registry import case
from conformance.session import (
    NOT_CHOKE,
    Session,
    check_piece_hash,
    open_session,
    our_handshake,
    verifiable_piece,
)

SECTION = "transfer"


@case(
    "piece-matches-hash",
    section=SECTION,
    requirements=("MSG-11", "META-4", "MSG-4", "BF-4", "MSG-20"),
)
def piece_matches_hash(ctx: CaseContext) -> None:
    """Whole pieces (first and last held) fetched in blocks match their SHA-256 hash."""
    first = verifiable_piece(ctx)
    last = verifiable_piece(ctx, prefer_last=True)
    s = open_session(ctx)
    s.ensure_unchoked()
    for index in sorted({first, last}):
        check_piece_hash(ctx, index, s.fetch_piece(index))


@case("block-within-piece", section=SECTION, requirements=("MSG-11", "MSG-4"))
def block_within_piece(ctx: CaseContext) -> None:
    """A block at an odd offset inside a piece is the matching slice of the verified piece."""
    index = verifiable_piece(ctx)
    s = open_session(ctx)
    s.ensure_unchoked()
    whole = s.fetch_piece(index)
    check_piece_hash(ctx, index, whole)
    length = len(whole)
    offset = length // 3 + 1 if length > 2 else 0
    size = max(1, min(1000, length - offset))
    data = s.fetch_block(index, offset, size)
    if data != whole[offset : offset + size]:
        raise Fail(
            "block data differs from the piece",
            expected=f"bytes {offset}..{offset + size} of piece {index} [MSG-11]",
            actual=data[:32].hex(),
        )


def _collect_replies(ctx: CaseContext, s: object, triples: list[tuple[int, int, int]]) -> None:
    from conformance.session import Session

    assert isinstance(s, Session)
    pending = set(triples)
    while pending:
        frame = s.wire.expect(ExpectMessage(("piece", "reject")))
        assert frame is not None
        key = (int(frame.fields["index"]), int(frame.fields["offset"]), int(frame.fields["length"]))
        if key not in pending:
            raise Fail(
                "reply to no outstanding request (duplicate or unsolicited)",
                expected=f"one of {sorted(pending)[:4]}... [MSG-4]",
                actual=frame.describe(),
            )
        pending.discard(key)


@case("one-reply-per-request", section=SECTION, requirements=("MSG-4",))
def one_reply_per_request(ctx: CaseContext) -> None:
    """Pipelined requests each get exactly one reply (piece or reject), no more."""
    s = open_session(ctx)
    s.ensure_unchoked()
    summary = ctx.target.summary
    triples: list[tuple[int, int, int]] = []
    for index in range(min(summary.piece_count, 8)):
        plen = summary.piece_length(index)
        for offset in (0, plen // 2):
            length = max(1, min(1024, plen - offset))
            if (index, offset, length) not in triples:
                triples.append((index, offset, length))
    s.write(b"".join(craft.request(*t) for t in triples))
    _collect_replies(ctx, s, triples)
    sentinel(s)


@case("starts-choked", section=SECTION, requirements=("MSG-14", "MSG-7"))
def starts_choked(ctx: CaseContext) -> None:
    """A request sent before any unchoke is answered by reject, or by data only after an unchoke."""
    wire = ctx.connect()
    read_handshake(wire)
    index, offset, length = probe_block(ctx)
    wire.write(
        our_handshake(ctx, peer_id=ctx.peer_id())
        + craft.bitfield(craft.empty_bitfield(ctx.target.piece_count))
        + craft.request(index, offset, length)
    )
    wire.expect(ExpectMessage(("bitfield",), skip=("keepalive",)))
    reply = wire.expect(ExpectMessage(("piece", "reject"), (("index", index), ("offset", offset))))
    assert reply is not None
    _no_data_while_choked(
        reply,
        [f.name for f in wire.received],
        "data served to a peer that was never unchoked",
        "reject, or unchoke before the piece [MSG-14, MSG-7]",
    )


def _no_data_while_choked(reply: Received, names: list[str], what: str, expected: str) -> None:
    """Fail when `reply` is a piece with no unchoke before it among the frames `names`."""
    if reply.name == "piece" and "unchoke" not in names[: names.index("piece")]:
        raise Fail(what, expected=expected, actual=" ".join(names))


@case("unchoke-after-interested", section=SECTION, requirements=("MSG-19",), level="SHOULD")
def unchoke_after_interested(ctx: CaseContext) -> None:
    """With its upload slots free, the target unchokes us in reaction to interested (or had
    already unchoked us), without waiting for a re-choke."""
    s = open_session(ctx)
    s.write(craft.interested())
    try:
        s.wire.expect(ExpectMessage(("unchoke",), skip=(*NOT_CHOKE, "choke")))
    except Timeout as exc:
        raise Timeout(
            "no unchoke after interested",
            expected=f"unchoke within {s.wire.timeout:g}s, before a re-choke [MSG-19]",
            actual=exc.actual,
        ) from exc


CHOKE_PROBE_SESSIONS = 16  # more interested peers than any sane count of upload slots


@case("choked-request-rejected", section=SECTION, requirements=("MSG-7", "MSG-4"))
def choked_request_rejected(ctx: CaseContext) -> None:
    """Interested connections take the target's upload slots until one stays choked; that
    one's request for a piece the target holds is answered by reject (data only after an
    unchoke). A full seeder rejects nothing else, so this is where a target that never sends
    reject, or serves peers it chokes, shows."""
    index = verifiable_piece(ctx)
    choked = None
    for _ in range(CHOKE_PROBE_SESSIONS):
        try:
            s = open_session(ctx)
        except (Fail, Timeout, Closed) as exc:
            raise Unsupported(
                f"the target refused a connection before choking one ({exc.message}); "
                "raise its connection and per-host limits"
            ) from exc
        s.write(craft.interested())
        try:
            s.wire.expect(ExpectMessage(("unchoke",), skip=(*NOT_CHOKE, "choke")), timeout=0.3)
        except Timeout:
            choked = s
            break
    if choked is None:
        raise Unsupported(f"the target unchoked all {CHOKE_PROBE_SESSIONS} interested peers")
    length = min(ctx.target.summary.piece_length(index), 16_384)
    seen = len(choked.wire.received)
    choked.write(craft.request(index, 0, length))
    try:
        reply = choked.expect_reply(index, 0, length)
    except Timeout as exc:
        raise Timeout(
            "no reply to a request from a choked peer",
            expected=f"reject({index}, 0, {length}) [MSG-7, MSG-4]",
            actual=exc.actual,
        ) from exc
    assert reply is not None
    _no_data_while_choked(
        reply,
        [f.name for f in choked.wire.received[seen:]],
        "data served to a peer the target chokes",
        f"reject({index}, 0, {length}) [MSG-7]",
    )


@case("unadvertised-piece-rejected", section=SECTION, requirements=("MSG-7", "BF-5"))
def unadvertised_piece_rejected(ctx: CaseContext) -> None:
    """A piece missing from the target's bitfield is answered by reject, never by data."""
    missing = [i for i in range(ctx.target.piece_count) if i not in ctx.target.bitfield]
    if not missing:
        raise Unsupported("the target has every piece")
    s = open_session(ctx)
    s.ensure_unchoked()
    index = missing[0]
    s.write(craft.request(index, 0, 1))
    reply = s.expect_reply(index, 0, 1)
    if reply.name == "piece" and index not in ctx.target.bitfield:
        raise Fail(
            "data for a piece not in the bitfield",
            expected="reject [MSG-7, BF-5]",
            actual=reply.describe(),
        )


@case("cancel-still-answered", section=SECTION, requirements=("MSG-4",))
def cancel_still_answered(ctx: CaseContext) -> None:
    """A cancelled request still gets exactly one reply: the piece or a reject."""
    s = open_session(ctx)
    s.ensure_unchoked()
    index, offset, length = probe_block(ctx)
    s.write(craft.request(index, offset, length) + craft.cancel(index, offset, length))
    s.expect_reply(index, offset, length)
    sentinel(s)


@case("cancel-unknown-ignored", section=SECTION, requirements=("MSG-12",))
def cancel_unknown_ignored(ctx: CaseContext) -> None:
    """A cancel for a request never made (it may have crossed the reply) is ignored."""
    s = open_session(ctx)
    index, offset, length = probe_block(ctx)
    s.write(craft.cancel(index, offset, length))
    sentinel(s)


@case("redundant-state-messages", section=SECTION, requirements=("MSG-15",))
def redundant_state_messages(ctx: CaseContext) -> None:
    """choke, unchoke, interested, not_interested (also repeated) and a have are accepted."""
    s = open_session(ctx)
    s.write(
        craft.choke() * 2
        + craft.unchoke() * 2
        + craft.interested() * 2
        + craft.not_interested() * 2
        + craft.have(0)
    )
    sentinel(s)


def plug(ctx: CaseContext, s: Session) -> list[tuple[int, int, int]]:
    """With the target's upload limit known (--upload-rate), requests for more bytes than it
    may send in 4 x --timeout: the requests written behind them wait in its queue, outstanding
    (the token bucket of a throttled node lets at most a block and a burst go at once).
    Without it, nothing: a target answering at once never holds a request."""
    rate = ctx.opts.upload_rate
    if not rate:
        return []
    index = verifiable_piece(ctx)
    length = min(ctx.target.summary.piece_length(index), C.MAX_BLOCK_LENGTH)
    budget = rate * 4 * ctx.opts.timeout + 2 * length
    count = min(int(budget // length) + 1, C.MAX_PEER_REQUESTS // 8)
    s.ensure_unchoked()
    triples = [(index, k, length - k) for k in range(count)]  # distinct, overlapping
    s.write(b"".join(craft.request(*t) for t in triples))
    return triples


@case("duplicate-request", section=SECTION, requirements=("MSG-6", "MSG-4"), kind="hostile")
def duplicate_request(ctx: CaseContext) -> None:
    """The same triple twice in one write: UNEXPECTED_MESSAGE if the first was still
    outstanding, else two replies (a target may answer before reading the second). With
    --upload-rate the pair waits behind a plug of large requests, so the error is due."""
    s = open_session(ctx)
    plugged = bool(plug(ctx, s))
    index, offset, length = probe_block(ctx)
    s.write(craft.request(index, offset, length) * 2)

    def is_reply(frame: Received) -> bool:
        key = (frame.fields.get("index"), frame.fields.get("offset"), frame.fields.get("length"))
        return frame.name in ("piece", "reject") and key == (index, offset, length)

    judge_duplicate(ctx, s, plugged, is_reply, "MSG-6", "a duplicate of a request")


def judge_duplicate(
    ctx: CaseContext,
    s: Session,
    plugged: bool,
    is_reply: Callable[[Received], bool],
    requirement: str,
    what: str,
) -> None:
    """After the same request twice in one write: UNEXPECTED_MESSAGE, or (only if nothing held
    the first one outstanding) two replies. `what` names the second request in messages."""
    replies = 0
    deadline = time.monotonic() + s.wire.timeout * (5 if plugged else 1)
    while replies < 2:
        frame = s.wire.next_frame(deadline)
        if frame is None:
            raise Fail(
                f"no error for {what} still queued"
                if plugged and time.monotonic() >= deadline
                else "closed without error",
                expected=f"UNEXPECTED_MESSAGE or two replies [{requirement}]",
                actual="nothing" if time.monotonic() >= deadline else "EOF",
            )
        if frame.name == "error":
            if frame.fields.get("code") != E.UNEXPECTED_MESSAGE:
                raise Fail(
                    "wrong error",
                    expected=f"UNEXPECTED_MESSAGE [{requirement}]",
                    actual=frame.describe(),
                )
            return
        if is_reply(frame):
            replies += 1
    if plugged:
        raise Fail(
            f"{what} still queued behind the plug was served",
            expected=f"UNEXPECTED_MESSAGE [{requirement}] "
            f"(upload limit {ctx.opts.upload_rate} B/s)",
            actual="two replies",
        )


def _range_error(ctx: CaseContext, message: bytes) -> None:
    s = open_session(ctx)
    s.write(message)
    expect_error_close(s.wire, E.OUT_OF_RANGE)


@case(
    "request-index-out-of-range", section=SECTION, requirements=("MSG-3", "ERR-3"), kind="hostile"
)
def request_index_out_of_range(ctx: CaseContext) -> None:
    """A request for piece n (one past the last): OUT_OF_RANGE, never data."""
    _range_error(ctx, craft.request(ctx.target.piece_count, 0, 1))


@case("request-offset-out-of-range", section=SECTION, requirements=("MSG-3",), kind="hostile")
def request_offset_out_of_range(ctx: CaseContext) -> None:
    """A block reaching past the end of the last piece: OUT_OF_RANGE."""
    last = ctx.target.piece_count - 1
    plen = ctx.target.summary.piece_length(last)
    _range_error(ctx, craft.request(last, plen - 1, 2))


def _earlier_piece(ctx: CaseContext) -> tuple[int, int]:
    """A piece before the last one and its length: its end is inside the file, so only the
    per-piece range check catches a block crossing it."""
    if ctx.target.piece_count < 2:
        raise Unsupported("the share has one piece: no piece end inside the file")
    return 0, ctx.target.summary.piece_length(0)


@case("request-crosses-piece-end", section=SECTION, requirements=("MSG-3",), kind="hostile")
def request_crosses_piece_end(ctx: CaseContext) -> None:
    """A request for the last byte of piece 0 and the first of piece 1: OUT_OF_RANGE."""
    index, plen = _earlier_piece(ctx)
    _range_error(ctx, craft.request(index, plen - 1, 2))


@case(
    "reject-crosses-piece-end",
    section=SECTION,
    requirements=("MSG-3", "ERR-11"),
    kind="hostile",
)
def reject_crosses_piece_end(ctx: CaseContext) -> None:
    """A reject crossing the end of piece 0 (also unsolicited): OUT_OF_RANGE first (ERR-11)."""
    index, plen = _earlier_piece(ctx)
    _range_error(ctx, craft.reject(index, plen - 1, 2))


@case(
    "piece-crosses-piece-end",
    section=SECTION,
    requirements=("MSG-9", "ERR-11"),
    kind="hostile",
)
def piece_crosses_piece_end(ctx: CaseContext) -> None:
    """Piece data crossing the end of piece 0 (also unsolicited): OUT_OF_RANGE (ERR-11)."""
    index, plen = _earlier_piece(ctx)
    _range_error(ctx, craft.piece(index, plen - 1, b"\x00\x00"))


@case("request-zero-length", section=SECTION, requirements=("MSG-3",), kind="hostile")
def request_zero_length(ctx: CaseContext) -> None:
    """A request of length 0: OUT_OF_RANGE."""
    _range_error(ctx, craft.request(0, 0, 0))


@case("request-over-block-limit", section=SECTION, requirements=("MSG-3", "TERM-4"), kind="hostile")
def request_over_block_limit(ctx: CaseContext) -> None:
    """A request longer than MAX_BLOCK_LENGTH: OUT_OF_RANGE."""
    _range_error(ctx, craft.request(0, 0, C.MAX_BLOCK_LENGTH + 1))


@case("cancel-out-of-range", section=SECTION, requirements=("MSG-3",), kind="hostile")
def cancel_out_of_range(ctx: CaseContext) -> None:
    """A cancel for piece n: OUT_OF_RANGE (range checks come before 'not outstanding')."""
    _range_error(ctx, craft.cancel(ctx.target.piece_count, 0, 1))


@case("reject-out-of-range", section=SECTION, requirements=("MSG-3", "ERR-11"), kind="hostile")
def reject_out_of_range(ctx: CaseContext) -> None:
    """A reject for piece n, also unsolicited: OUT_OF_RANGE, which ERR-11 puts first."""
    _range_error(ctx, craft.reject(ctx.target.piece_count, 0, 1))


@case("have-out-of-range", section=SECTION, requirements=("MSG-1",), kind="hostile")
def have_out_of_range(ctx: CaseContext) -> None:
    """A have for piece n: OUT_OF_RANGE."""
    _range_error(ctx, craft.have(ctx.target.piece_count))


@case("piece-out-of-range", section=SECTION, requirements=("MSG-9", "ERR-11"), kind="hostile")
def piece_out_of_range(ctx: CaseContext) -> None:
    """A piece message for piece n, also unsolicited: OUT_OF_RANGE, which ERR-11 puts first."""
    _range_error(ctx, craft.piece(ctx.target.piece_count, 0, b"\x00" * 4))


@case("unsolicited-piece", section=SECTION, requirements=("MSG-10", "ERR-3"), kind="hostile")
def unsolicited_piece(ctx: CaseContext) -> None:
    """A piece nobody asked for (even if the bytes would verify): UNSOLICITED."""
    s = open_session(ctx)
    s.write(craft.piece(0, 0, b"\x00" * min(16, ctx.target.summary.piece_length(0))))
    expect_error_close(s.wire, E.UNSOLICITED)


@case("unsolicited-reject", section=SECTION, requirements=("MSG-10",), kind="hostile")
def unsolicited_reject(ctx: CaseContext) -> None:
    """A reject for a request never sent: UNSOLICITED."""
    s = open_session(ctx)
    s.write(craft.reject(0, 0, min(16, ctx.target.summary.piece_length(0))))
    expect_error_close(s.wire, E.UNSOLICITED)


@case("request-flood", section=SECTION, requirements=("MSG-5", "MSG-4", "SEC-2"), kind="hostile")
def request_flood(ctx: CaseContext) -> None:
    """Twice MAX_PEER_REQUESTS requests at once: each answered exactly once until the target
    fails the connection with TOO_MANY_REQUESTS (the error may be lost to a TCP reset). With
    --upload-rate they wait behind a plug of large requests, so the error is due."""
    s = open_session(ctx)
    plugged = plug(ctx, s)
    summary = ctx.target.summary
    triples = []
    for i in range(2 * C.MAX_PEER_REQUESTS):
        index = i % summary.piece_count
        plen = summary.piece_length(index)
        triples.append((index, (i // summary.piece_count) % plen, 1))
    triples = list(dict.fromkeys(triples))
    s.write(b"".join(craft.request(*t) for t in triples))
    pending = set(triples) | set(plugged)
    deadline = time.monotonic() + s.wire.timeout * 4
    while pending:
        frame = s.wire.next_frame(deadline)
        if frame is None:
            if plugged and time.monotonic() >= deadline:
                raise Fail(
                    "no error although more than MAX_PEER_REQUESTS requests were queued",
                    expected=f"TOO_MANY_REQUESTS [MSG-5] (upload limit {ctx.opts.upload_rate} B/s)",
                    actual=f"{len(pending)} requests unanswered, no error",
                )
            return
        if frame.name == "error":
            if frame.fields.get("code") != E.TOO_MANY_REQUESTS:
                raise Fail(
                    "wrong error", expected="TOO_MANY_REQUESTS [MSG-5]", actual=frame.describe()
                )
            return
        if frame.name in ("piece", "reject"):
            key = (
                int(frame.fields["index"]),
                int(frame.fields["offset"]),
                int(frame.fields["length"]),
            )
            if key not in pending:
                raise Fail(
                    "duplicate or unsolicited reply",
                    expected="one reply each [MSG-4]",
                    actual=frame.describe(),
                )
            pending.discard(key)
    if plugged:
        raise Fail(
            "every request answered although more than MAX_PEER_REQUESTS were queued",
            expected=f"TOO_MANY_REQUESTS [MSG-5] (upload limit {ctx.opts.upload_rate} B/s)",
            actual=f"{len(triples) + len(plugged)} replies",
        )
