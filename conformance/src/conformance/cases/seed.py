"""Section 7.7, super-seeding: a target that super-seeds serves what it offered, nothing else.

A target that sends its full bitfield does not super-seed (BF-5): these cases are unsupported
against it. Against a super-seeder (`p2pshare share --super-seed`) they check what the other
peers of a swarm count on: a piece it announced to us is served while it unchokes us (MSG-20),
a piece it did not announce to us is rejected (SEED-2).
"""

from __future__ import annotations

from p2pshare_core import constants as C
from p2pshare_core.bitfield import Bitfield

from conformance import craft
from conformance.context import CaseContext
from conformance.expect import ExpectMessage
from conformance.frames import piece_data
from conformance.outcomes import Fail, Timeout, Unsupported
from conformance.registry import case
from conformance.session import Session, check_piece_hash, open_session

SECTION = "seed"
_HIDDEN_TRIES = 4  # pieces asked for before the offers in flight are all seen
_QUIET = ("keepalive", "peers", "choke", "unchoke", "interested", "not_interested")


def _offered(s: Session) -> set[int]:
    """Pieces the target announced to us by have so far, waiting for a first one if needed."""
    haves = {int(f.fields["index"]) for f in s.wire.received if f.name == "have"}
    if haves:
        return haves
    try:
        frame = s.wire.expect(ExpectMessage(("have",), skip=_QUIET))
    except Timeout as exc:
        raise Unsupported(
            "the target announced no piece after unchoking us: it does not super-seed"
        ) from exc
    assert frame is not None
    return {int(frame.fields["index"])}


@case("super-seed-serves-its-offers", section=SECTION, requirements=("SEED-1", "SEED-2", "MSG-20"))
def super_seed_serves_its_offers(ctx: CaseContext) -> None:
    """A target whose bitfield is partial and that then announces pieces by have: a request for
    a piece it has not announced to us is rejected [SEED-2]; a piece it offered is served, and
    matches its hash [MSG-20]."""
    n = ctx.target.piece_count
    if len(ctx.target.pieces_held()) == n:
        raise Unsupported("the target announces every piece in its bitfield: no super-seeding")
    s = open_session(ctx)
    s.ensure_unchoked()
    announced = set(Bitfield.from_bytes(n, s.their_bits)) | _offered(s)
    # An offer may still be on its way when we choose (two at a time, SEED-3): data for a
    # piece whose have came before it proves nothing, so ask for another piece, a few times.
    for _ in range(_HIDDEN_TRIES):
        hidden = next((i for i in range(n) if i not in announced), None)
        if hidden is None:
            break
        s.write(craft.request(hidden, 0, 1))
        reply = s.expect_reply(hidden, 0, 1)
        announced |= {int(f.fields["index"]) for f in s.wire.received if f.name == "have"}
        if reply.name == "reject":
            break
        if hidden not in announced:
            raise Fail(
                "data for a piece the target did not announce to us",
                expected=f"reject({hidden}, 0, 1) [SEED-2]",
                actual=reply.describe(),
            )
    index = min(announced)
    length = ctx.target.summary.piece_length(index)
    step = min(length, C.MAX_BLOCK_LENGTH)
    parts = []
    for offset in range(0, length, step):
        size = min(step, length - offset)
        s.write(craft.request(index, offset, size))
        reply = s.expect_reply(index, offset, size)
        if reply.name == "reject":
            if s.choked_since_unchoke():
                raise Unsupported("the target choked us before serving its offer")
            raise Fail(
                "a piece the target offered us was rejected while it unchoked us",
                expected=f"the data of ({index}, {offset}, {size}) [MSG-20]",
                actual=reply.describe(),
            )
        parts.append(piece_data(reply))
    check_piece_hash(ctx, index, b"".join(parts))
