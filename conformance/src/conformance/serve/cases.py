"""Serve-mode cases: judgements over what the fake swarm observed of a downloader."""

from __future__ import annotations

from p2pshare_core import constants as C

from conformance.cases.handshake import ASSIGNED_CAPABILITIES
from conformance.outcomes import Fail, Timeout, Unsupported
from conformance.registry import case
from conformance.serve.swarm import WATCHERS, ConnLog, Observation
from conformance.serve.trees import HOSTILE_TREES

SECTION = "serve"


def _downloader_conns(obs: Observation) -> list[ConnLog]:
    return [c for c in obs.conns if c.handshake is not None]


def _fetched_back(obs: Observation) -> list[tuple[int, bool]]:
    """Pieces the entry peer and the watcher downloaded back: (index, hash ok)."""
    return [f for role in WATCHERS for c in obs.by_role(role) for f in c.fetched_back]


def _swarm_only(obs: Observation) -> None:
    if obs.scenario not in ("swarm", "tree"):
        raise Unsupported(f"not judged in the {obs.scenario} scenario")


@case("link-share-checked", section=SECTION, requirements=("LINK-6", "HS-14"), kind="serve")
def link_share_checked(obs: Observation) -> None:
    """Dialing a full link whose share ID differs from the acceptor's: the downloader fails the
    connection (SHARE_MISMATCH) and asks that peer for nothing."""
    if obs.scenario != "wrong-link":
        raise Unsupported("run `serve --scenario wrong-link` to judge this")
    entry = obs.by_role("entry")
    if not entry:
        raise Fail("the downloader never dialed the link", expected="a connection", actual="none")
    for c in entry:
        if c.asked:
            raise Fail(
                "requested data from a peer serving another share",
                expected="SHARE_MISMATCH and close [LINK-6]",
                actual=f"{c.asked} request(s)",
            )
        if c.their_error is not None and c.their_error.code != 6:
            raise Fail(
                "wrong error",
                expected="SHARE_MISMATCH [LINK-6]",
                actual=f"error code {c.their_error.code}",
            )
        if not c.closed:
            raise Timeout("connection left open", expected="close [LINK-6]", actual="open")


@case("unsafe-name-refused", section=SECTION, requirements=("HS-10", "NAME-1"), kind="serve")
def unsafe_name_refused(obs: Observation) -> None:
    """Started from a bare address, the downloader learns the share from a handshake naming
    "../escape.bin": it fails the connection with BAD_METAINFO and never answers with a
    handshake echoing that summary (HS-16) or asks for anything."""
    if obs.scenario != "unsafe-name":
        raise Unsupported("run `serve --scenario unsafe-name` to judge this")
    entry = obs.by_role("entry")
    if not entry:
        raise Fail(
            "the downloader never dialed the address", expected="a connection", actual="none"
        )
    for c in entry:
        if c.handshake is not None or c.asked:
            raise Fail(
                "accepted a handshake with an unsafe name",
                expected="BAD_METAINFO and close [HS-10]",
                actual="it answered with its handshake" if c.handshake else f"{c.asked} requests",
            )
        if c.their_error is None or c.their_error.code != 13:
            got = "no error" if c.their_error is None else f"error code {c.their_error.code}"
            raise Fail("wrong refusal", expected="BAD_METAINFO [HS-10]", actual=got)


@case("request-limit", section=SECTION, requirements=("MSG-5",), kind="serve")
def request_limit(obs: Observation) -> None:
    """With more blocks to fetch than MAX_PEER_REQUESTS and a peer that unchokes but answers
    nothing, the downloader stops at MAX_PEER_REQUESTS outstanding requests to that peer."""
    if obs.scenario != "request-limit":
        raise Unsupported("run `serve --scenario request-limit` to judge this")
    entry = obs.by_role("entry")
    for c in entry:
        if c.violations:
            req, reason = c.violations[0]
            raise Fail(
                "protocol violation while requests were outstanding",
                expected=f"at most {C.MAX_PEER_REQUESTS} outstanding requests [{req}]",
                actual=reason,
            )
    if not any(c.requests for c in entry):
        raise Unsupported("the downloader requested no block from the peer that unchoked it")


@case("metainfo-verified", section=SECTION, requirements=("META-14",), kind="serve")
def metainfo_verified(obs: Observation) -> None:
    """The entry peer serves a metainfo that decodes but does not hash to the share ID: the
    downloader discards it and fails that connection with BAD_METAINFO."""
    if obs.scenario != "bad-metainfo":
        raise Unsupported("run `serve --scenario bad-metainfo` to judge this")
    spoiled = [c for c in obs.by_role("entry") if c.bad_metainfo_served]
    if not spoiled:
        raise Unsupported("the downloader fetched no metainfo from the entry peer")
    # (the downloader may redial the entry peer: the last connection may end with the run)
    errors = [c.their_error.code for c in spoiled if c.their_error is not None]
    if any(code != 13 for code in errors) or 13 not in errors:
        raise Fail(
            "a metainfo whose SHA-256 is not the share ID was not refused",
            expected="BAD_METAINFO and close [META-14]",
            actual=f"error codes {errors} on {len(spoiled)} connection(s)",
        )


@case("late-reply-accepted", section=SECTION, requirements=("MSG-21", "MSG-10"), kind="serve")
def late_reply_accepted(obs: Observation) -> None:
    """Every reply comes after the downloader's REQUEST_TIMEOUT: the requests are still
    outstanding, so the downloader may drop the data but never fails the connection with
    UNSOLICITED."""
    if obs.scenario != "late-replies":
        raise Unsupported("run `serve --scenario late-replies --request-timeout S` to judge this")
    late = [c for c in obs.by_role("entry") if c.late_sent]
    if not late:
        raise Unsupported("the downloader requested no block, or hung up before any late reply")
    for c in late:
        if c.their_error is not None and c.their_error.code == 8:
            raise Fail(
                "a late reply to an outstanding request was called unsolicited",
                expected="no UNSOLICITED for a request given up on [MSG-21]",
                actual=f"error UNSOLICITED: {c.their_error.reason}",
            )


@case("early-connection-held", section=SECTION, requirements=("HS-19", "HS-17"), kind="serve")
def early_connection_held(obs: Observation) -> None:
    """A peer dials the downloader's port while the downloader cannot know the share yet (the
    entry peer's handshake is late): the connection waits, and its first frame is the
    downloader's handshake once it knows the share; never a refusal or a close."""
    if obs.scenario != "early-dial":
        raise Unsupported(
            "run `serve --scenario early-dial --downloader-port P` (downloader on port P)"
        )
    if obs.early_dial is None:
        raise Unsupported(
            f"the downloader did not listen before it knew the share ({obs.early_refused} "
            "dials refused), which HS-19 allows"
        )
    if obs.early_dial != "handshake":
        raise Fail(
            "a connection that arrived before the downloader knew the share was not held",
            expected="its handshake once the share is known [HS-19, HS-17]",
            actual=obs.early_dial,
        )


@case(
    "completes",
    section=SECTION,
    requirements=("MSG-2", "META-14", "META-4", "MSG-18"),
    kind="serve",
)
def completes(obs: Observation) -> None:
    """The downloader fetches and verifies the metainfo, then announces every piece to the
    watcher, a peer that has none (MSG-2; the entry peer has them all, so a downloader may
    leave it out, MSG-22, but announcing them there counts too).

    The fake seeds unchoke only on interested, so a downloader that waits for an unchoke
    before sending interested (MSG-18) never completes."""
    _swarm_only(obs)
    if obs.completed_at is None:
        watcher = len(obs.announced_to("watcher"))
        entry = len(obs.announced_to("entry"))
        raise Timeout(
            "download did not complete",
            expected=f"have for all {obs.share.meta.piece_count} pieces to the watcher [MSG-2]",
            actual=f"{watcher} pieces announced to the watcher, {entry} to the entry peer"
            + ("" if obs.by_role("watcher") else " (the watcher was never dialed, PEX-12)"),
        )


@case(
    "no-violations",
    section=SECTION,
    requirements=(
        "STATE-3",
        "FRAME-4",
        "FRAME-6",
        "MSG-3",
        "MSG-5",
        "MSG-6",
        "META-16",
        "HS-16",
        "HS-17",
        "HS-1",
        "HS-5",
        "BF-1",
        "BF-3",
        "PEX-1",
    ),
    kind="serve",
)
def no_violations(obs: Observation) -> None:
    """Every frame the downloader sent to every fake peer passes the core model's checks
    (handshake echoes the share, requests in range and within the limits, ...)."""
    _swarm_only(obs)
    for c in obs.conns:
        if c.violations:
            req, reason = c.violations[0]
            raise Fail(
                f"protocol violation on the {c.role} peer's connection",
                expected=f"frames the spec allows [{req}]",
                actual=reason,
            )
        if c.handshake is not None and c.handshake.flags & ~ASSIGNED_CAPABILITIES:
            raise Fail(
                "capability bits the registry does not assign",
                expected=f"flags within {ASSIGNED_CAPABILITIES:#04x} [HS-5, EXT-1, EXT-4]",
                actual=hex(c.handshake.flags),
            )
    if not _downloader_conns(obs):
        raise Fail(
            "the downloader never completed a handshake", expected="a connection", actual="none"
        )


@case("bitfield-honest", section=SECTION, requirements=("BF-4", "MSG-2"), kind="serve")
def bitfield_honest(obs: Observation) -> None:
    """Bitfields and haves claim only pieces the downloader received good data for."""
    _swarm_only(obs)
    good: dict[int, float] = {}
    for c in obs.conns:
        for t, index, ok in c.served:
            if ok:
                good[index] = min(t, good.get(index, t))
    for c in obs.conns:
        if c.bits:
            early = [
                i
                for i in c.claimed(obs.share.meta.piece_count)
                if i not in good or good[i] > c.opened
            ]
            if early:
                raise Fail(
                    "bitfield claims unverified pieces",
                    expected="no such bits [BF-4]",
                    actual=f"pieces {early[:8]} to the {c.role} peer",
                )
        for t, index in c.haves:
            if index not in good or good[index] > t:
                raise Fail(
                    "have for a piece never received intact",
                    expected="have only after verifying [MSG-2, BEH-11]",
                    actual=f"have({index}) to the {c.role} peer",
                )


@case("discards-corrupt", section=SECTION, requirements=("BEH-11", "META-4"), kind="serve")
def discards_corrupt(obs: Observation) -> None:
    """A piece received corrupt is neither announced nor served until good data arrived."""
    _swarm_only(obs)
    corrupt = [(t, i) for c in obs.conns for t, i, ok in c.served if not ok]
    if not corrupt:
        raise Unsupported("the downloader requested nothing from the corrupt peer")
    bitfield_honest(obs)  # announcing a corrupt-only piece is caught there
    bad_fetch = [i for i, ok in _fetched_back(obs) if not ok]
    if bad_fetch:
        raise Fail(
            "served data that does not match the piece hash",
            expected="only verified data [MSG-11, BEH-11]",
            actual=f"pieces {bad_fetch}",
        )


@case("serves-verified-data", section=SECTION, requirements=("MSG-11", "MSG-4"), kind="serve")
def serves_verified_data(obs: Observation) -> None:
    """Pieces the entry peer and the watcher download back from the downloader match their
    hashes."""
    _swarm_only(obs)
    fetched = _fetched_back(obs)
    if not fetched:
        raise Unsupported("the downloader never unchoked the entry peer or the watcher")
    bad = [i for i, ok in fetched if not ok]
    if bad:
        raise Fail(
            "served data does not match the hash",
            expected="verified bytes [MSG-11]",
            actual=f"pieces {bad}",
        )


@case("dial-rule", section=SECTION, requirements=("DUP-1", "PEX-10", "TERM-3"), kind="serve")
def dial_rule(obs: Observation) -> None:
    """The peer with the highest possible ID, learned by PEX, is never dialed."""
    _swarm_only(obs)
    if obs.by_role("high"):
        raise Fail(
            "dialed a PEX peer with a higher peer ID",
            expected="no connection to ff..ff [DUP-1]",
            actual=f"{len(obs.by_role('high'))} connection(s)",
        )


@case(
    "dials-lower-ids",
    section=SECTION,
    requirements=("PEX-12",),
    level="SHOULD",
    kind="serve",
)
def dials_lower_ids(obs: Observation) -> None:
    """A PEX peer with a lower ID is dialed (it holds pieces the downloader needs). One is
    enough: SEC-5 lets a downloader pace its dials, so it may not reach all three in time."""
    _swarm_only(obs)
    if not any(obs.by_role(r) for r in ("corrupt", "reject", "silent", "mirror")):
        raise Fail(
            "no PEX peer dialed",
            expected="a connection to a lower-ID peer learned by PEX [PEX-12]",
            actual="never dialed any of corrupt, reject, silent, mirror",
        )


@case(
    "refetches-elsewhere",
    section=SECTION,
    requirements=("BEH-12", "BEH-8"),
    level="SHOULD",
    kind="serve",
)
def refetches_elsewhere(obs: Observation) -> None:
    """Pieces that were corrupt, rejected or unanswered were fetched from a good peer."""
    _swarm_only(obs)
    lost = {i for c in obs.by_role("corrupt") for _, i, ok in c.served if not ok}
    lost |= {t[0] for c in obs.by_role("reject") + obs.by_role("silent") for _, t in c.requests}
    good = {i for c in obs.by_role("entry") + obs.by_role("mirror") for _, i, ok in c.served if ok}
    missing = sorted(lost - good)
    if missing:
        raise Fail(
            "pieces not re-fetched from a good peer",
            expected="re-requests [BEH-12]",
            actual=f"pieces {missing[:8]}",
        )


@case(
    "tree-handled",
    section=SECTION,
    requirements=("TREE-8", "TREE-9", "TREE-10", "TREE-6"),
    kind="serve",
)
def tree_handled(obs: Observation) -> None:
    """A folder share: a downloader that implements trees fetches it (every piece announced);
    one that does not refuses the tree summary with BAD_METAINFO and asks for nothing."""
    if obs.scenario != "tree":
        raise Unsupported("run `serve --scenario tree` to judge this")
    if obs.completed_at is not None:
        return
    entry = obs.by_role("entry")
    refused = entry and all(
        c.their_error is not None and c.their_error.code == 13 and not c.asked for c in entry
    )
    if not refused:
        raise Timeout(
            "neither fetched the tree nor refused it",
            expected="every piece announced, or BAD_METAINFO at the handshake [TREE-10]",
            actual=f"{len(obs.announced_to('watcher'))} of {obs.share.meta.piece_count} pieces "
            "announced to the watcher",
        )


@case(
    "hostile-tree-refused",
    section=SECTION,
    requirements=("TREE-2", "TREE-3", "TREE-4", "TREE-5", "META-14"),
    kind="serve",
)
def hostile_tree_refused(obs: Observation) -> None:
    """A tree metainfo that hashes to the share ID but breaks a TREE rule (`..`, an absolute
    path, a duplicate, a case collision, a file where a directory is, too many entries): the
    downloader fails the connection with BAD_METAINFO and asks for no piece."""
    if obs.scenario not in HOSTILE_TREES:
        raise Unsupported("run `serve --scenario tree-dotdot` (or another tree-*) to judge this")
    rule = HOSTILE_TREES[obs.scenario][0]
    entry = obs.by_role("entry")
    if not entry:
        raise Fail("the downloader never dialed the link", expected="a connection", actual="none")
    # (a connection on which the downloader only read the handshake, a probe, says nothing)
    for c in [c for c in entry if c.handshake is not None or c.asked or c.their_error] or entry:
        if c.requests:
            raise Fail(
                "requested pieces of a hostile tree",
                expected=f"BAD_METAINFO [{rule}]",
                actual=f"{len(c.requests)} request(s)",
            )
        if c.their_error is None or c.their_error.code != 13:
            got = "no error" if c.their_error is None else f"error code {c.their_error.code}"
            raise Fail("hostile tree not refused", expected=f"BAD_METAINFO [{rule}]", actual=got)
