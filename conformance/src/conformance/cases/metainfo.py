"""Section 8, metainfo exchange: chunks that reassemble to bytes hashing to the share ID."""

from __future__ import annotations

from p2pshare_core import constants as C
from p2pshare_core.metainfo import chunk_count

from conformance import craft
from conformance.cases._util import E, expect_error_close, sentinel
from conformance.context import CaseContext
from conformance.discover import fetch_metainfo
from conformance.expect import ExpectClose, ExpectMessage
from conformance.frames import HARMLESS
from conformance.outcomes import Fail, Unsupported
from conformance.registry import case
from conformance.session import open_session

SECTION = "metainfo"


@case(
    "chunks-verify-share-id",
    section=SECTION,
    requirements=("META-1", "META-3", "META-8", "META-11", "NAME-1"),
)
def chunks_verify_share_id(ctx: CaseContext) -> None:
    """All metainfo chunks, joined, hash (SHA-256) to the share ID and decode."""
    s = open_session(ctx)
    metainfo, problem = fetch_metainfo(s.wire, ctx.target.share_id)
    if metainfo is None:
        raise Fail(
            "metainfo does not verify",
            expected="SHA-256(metainfo) == share ID, canonical layout [META-3, META-1]",
            actual=str(problem),
        )
    if metainfo.summary != ctx.target.summary:
        raise Fail(
            "metainfo disagrees with the handshake",
            expected=str(ctx.target.summary),
            actual=str(metainfo.summary),
        )


@case("chunk-sizes", section=SECTION, requirements=("META-12", "META-11"))
def chunk_sizes(ctx: CaseContext) -> None:
    """Every chunk but the last is METAINFO_CHUNK_SIZE bytes; total_size is constant."""
    s = open_session(ctx)
    s.write(craft.metainfo_request(0))
    first = s.wire.expect(ExpectMessage(("metainfo_data",), (("chunk", 0),)))
    assert first is not None
    total = int(first.fields["total_size"])
    count = chunk_count(total)
    for chunk in range(count):
        if chunk:
            s.write(craft.metainfo_request(chunk))
            frame = s.wire.expect(ExpectMessage(("metainfo_data",), (("chunk", chunk),)))
            assert frame is not None
        else:
            frame = first
        want = C.METAINFO_CHUNK_SIZE if chunk < count - 1 else total - chunk * C.METAINFO_CHUNK_SIZE
        if frame.fields["length"] != want or frame.fields["total_size"] != total:
            raise Fail(
                "wrong chunk size",
                expected=f"{want} bytes of {total} [META-12]",
                actual=frame.describe(),
            )


@case("chunk-past-end-rejected", section=SECTION, requirements=("META-11",))
def chunk_past_end_rejected(ctx: CaseContext) -> None:
    """A request for the chunk just past the last one gets metainfo_reject for that chunk."""
    s = open_session(ctx)
    s.write(craft.metainfo_request(0))
    first = s.wire.expect(ExpectMessage(("metainfo_data", "metainfo_reject"), (("chunk", 0),)))
    assert first is not None
    if first.name == "metainfo_reject":
        raise Unsupported("the target has no metainfo to serve")
    past = chunk_count(int(first.fields["total_size"]))
    s.write(craft.metainfo_request(past))
    s.wire.expect(ExpectMessage(("metainfo_reject",), (("chunk", past),)))
    sentinel(s)


@case("chunk-beyond-any-metainfo", section=SECTION, requirements=("META-11",), kind="hostile")
def chunk_beyond_any_metainfo(ctx: CaseContext) -> None:
    """A request for chunk MAX_METAINFO_CHUNKS (65), which no metainfo has: OUT_OF_RANGE."""
    s = open_session(ctx)
    s.write(craft.metainfo_request(chunk_count(C.MAX_METAINFO_SIZE)))
    expect_error_close(s.wire, E.OUT_OF_RANGE)


@case("duplicate-metainfo-request", section=SECTION, requirements=("META-16",), kind="hostile")
def duplicate_metainfo_request(ctx: CaseContext) -> None:
    """The same chunk requested twice at once: UNEXPECTED_MESSAGE if the first was still
    outstanding, else two replies (the target may answer before reading the second)."""
    s = open_session(ctx)
    s.write(craft.metainfo_request(0) * 2)
    replies = 0
    while replies < 2:
        frame = s.wire.expect(
            ExpectMessage(("metainfo_data", "metainfo_reject", "error"), skip=HARMLESS)
        )
        assert frame is not None
        if frame.name == "error":
            if frame.fields.get("code") != E.UNEXPECTED_MESSAGE:
                raise Fail(
                    "wrong error", expected="UNEXPECTED_MESSAGE [META-16]", actual=frame.describe()
                )
            s.wire.expect(ExpectClose(None, error_required=False))
            return
        replies += 1


@case("unsolicited-metainfo-data", section=SECTION, requirements=("META-13",), kind="hostile")
def unsolicited_metainfo_data(ctx: CaseContext) -> None:
    """metainfo_data for a chunk the target never requested: error UNSOLICITED then close."""
    s = open_session(ctx)
    s.write(craft.metainfo_data(0, 100, bytes(100)))
    expect_error_close(s.wire, E.UNSOLICITED)


@case("unsolicited-metainfo-reject", section=SECTION, requirements=("META-13",), kind="hostile")
def unsolicited_metainfo_reject(ctx: CaseContext) -> None:
    """metainfo_reject for a chunk the target never requested: error UNSOLICITED then close."""
    s = open_session(ctx)
    s.write(craft.metainfo_reject(0))
    expect_error_close(s.wire, E.UNSOLICITED)
