"""Section 12, errors: a received error ends the connection; a violation stops processing."""

from __future__ import annotations

import struct

from conformance import craft
from conformance.cases._util import E, expect_error_close, probe_block
from conformance.context import CaseContext
from conformance.expect import ExpectClose
from conformance.outcomes import Fail
from conformance.registry import case
from conformance.session import open_session

SECTION = "errors"


def _no_reply_then_close(ctx: CaseContext, error_frame: bytes) -> None:
    s = open_session(ctx)
    index, offset, length = probe_block(ctx)
    # The have for piece n would be refused at once (OUT_OF_RANGE) by a target that kept
    # reading; unlike a request's reply, that error does not wait for the disk.
    s.write(error_frame + craft.request(index, offset, length) + craft.have(ctx.target.piece_count))
    before = len(s.wire.received)
    s.wire.expect(ExpectClose(None, error_required=False))
    after = s.wire.received[before:]
    answered = [f for f in after if f.name in ("piece", "reject")]
    if answered:
        raise Fail(
            "the target processed bytes after the peer's error",
            expected="no reply to a request sent after an error [STATE-4]",
            actual=answered[0].describe(),
        )
    errors = [f for f in after if f.name == "error"]
    if errors and errors[0].fields.get("code") == E.OUT_OF_RANGE:
        raise Fail(
            "the target processed bytes after the peer's error",
            expected="no reaction to a have for piece n sent after an error [STATE-4]",
            actual=errors[0].describe(),
        )
    if errors:
        raise Fail(
            "the target answered an error with an error",
            expected="close without an error [ERR-6]",
            actual=errors[0].describe(),
        )


@case("peer-error-ends-connection", section=SECTION, requirements=("ERR-6", "STATE-4"))
def peer_error_ends_connection(ctx: CaseContext) -> None:
    """After our error(SHUTDOWN) the target closes, sends no error back, ignores later bytes."""
    _no_reply_then_close(ctx, craft.error(E.SHUTDOWN, "conformance suite says goodbye"))


@case("unknown-error-code", section=SECTION, requirements=("ERR-7", "ERR-6"))
def unknown_error_code(ctx: CaseContext) -> None:
    """An error with an unknown code (999) is accepted: the target closes quietly."""
    _no_reply_then_close(ctx, craft.error(999, "from the future"))


@case("overlong-reason", section=SECTION, requirements=("ERR-2",), kind="hostile")
def overlong_reason(ctx: CaseContext) -> None:
    """An error whose reason exceeds MAX_REASON_LENGTH: MALFORMED."""
    s = open_session(ctx)
    s.write(craft.error(E.SHUTDOWN, "x" * 1025))
    expect_error_close(s.wire, E.MALFORMED)


@case("short-error", section=SECTION, requirements=("ERR-2",), kind="hostile")
def short_error(ctx: CaseContext) -> None:
    """An error message with a 1-byte payload: MALFORMED."""
    s = open_session(ctx)
    s.write(craft.frame(craft.ERROR, b"\x00"))
    expect_error_close(s.wire, E.MALFORMED)


@case("reason-not-utf8", section=SECTION, requirements=("ERR-2", "TERM-2"), kind="hostile")
def reason_not_utf8(ctx: CaseContext) -> None:
    """An error whose reason is not valid UTF-8: MALFORMED."""
    s = open_session(ctx)
    s.write(craft.frame(craft.ERROR, struct.pack(">H", E.SHUTDOWN) + b"\xc3\x28"))
    expect_error_close(s.wire, E.MALFORMED)


@case(
    "violation-stops-processing",
    section=SECTION,
    requirements=("STATE-6", "ERR-3", "ERR-5"),
    kind="hostile",
)
def violation_stops_processing(ctx: CaseContext) -> None:
    """After a violation the target answers nothing more: a metainfo request and a request
    right behind a malformed frame get no reply, only the error and the close. (The metainfo
    reply is a control frame a target sends even while closing, unlike queued file data.)"""
    s = open_session(ctx)
    index, offset, length = probe_block(ctx)
    s.write(
        craft.frame(craft.HAVE, b"\x00")
        + craft.metainfo_request(0)
        + craft.request(index, offset, length)
        + craft.have(ctx.target.piece_count)  # would be a second, immediate error
    )
    before = len(s.wire.received)
    expect_error_close(s.wire, E.MALFORMED)
    replies = ("piece", "reject", "metainfo_data", "metainfo_reject")
    answered = [f for f in s.wire.received[before:] if f.name in replies]
    if answered:
        raise Fail(
            "the target kept processing after a violation",
            expected="no reply after the malformed frame [STATE-6]",
            actual=answered[0].describe(),
        )
