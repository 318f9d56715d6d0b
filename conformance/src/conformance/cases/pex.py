"""Section 13, peer exchange: entry limits, validity, and the dial rule (higher ID dials)."""

from __future__ import annotations

import itertools
import socket

from p2pshare_core import constants as C

from conformance import craft
from conformance.cases._util import E, expect_error_close, sentinel
from conformance.context import CaseContext
from conformance.expect import ExpectMessage, ExpectOpen
from conformance.frames import HARMLESS
from conformance.outcomes import Fail, Timeout, Unsupported
from conformance.registry import case
from conformance.session import open_session, our_handshake

SECTION = "pex"


class Listener:
    """A loopback listening socket that records whether the target dialled it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port: int = self.sock.getsockname()[1]

    def dialled_within(self, seconds: float) -> bool:
        self.sock.settimeout(seconds)
        try:
            conn, _ = self.sock.accept()
        except TimeoutError:
            return False
        conn.close()
        return True

    def close(self) -> None:
        self.sock.close()


@case(
    "lists-connected-peers",
    section=SECTION,
    requirements=("PEX-4", "PEX-1", "PEX-5", "PEX-10"),
)
def lists_connected_peers(ctx: CaseContext) -> None:
    """A newcomer's peers message lists a connected, listening peer; never the newcomer (which
    listens too, so only the recipient rule can keep it out), never an address the target only
    heard of by PEX and is not connected to."""
    a_listener, b_listener, x_listener = Listener(), Listener(), Listener()
    try:
        # A listens (the target will not dial it: A's ID is higher) and tells the target of X,
        # a peer the target must not dial (higher ID) and so is never connected to.
        a_id = ctx.peer_id(above=ctx.target.peer_id)
        x_id = ctx.peer_id(above=ctx.target.peer_id)
        a = open_session(ctx, peer_id=a_id, listen_port=a_listener.port)
        a.write(craft.peers([craft.peer_entry(x_id, "127.0.0.1", x_listener.port)]))
        sentinel(a)  # the peers message was processed before the reply to this request
        b_id = ctx.peer_id(above=ctx.target.peer_id)
        b = open_session(ctx, peer_id=b_id, listen_port=b_listener.port)
        others = tuple(n for n in HARMLESS if n != "peers")
        try:
            frame = b.wire.expect(ExpectMessage(("peers",), skip=others))
        except Timeout as exc:
            raise Unsupported("target sent no peers message to a newcomer") from exc
        assert frame is not None
        entries = list(frame.fields.get("entries", []))
        ids = {str(e["peer_id"]) for e in entries}
        if len(entries) > C.MAX_PEX_ENTRIES:
            raise Fail(
                "too many entries",
                expected=f"<= {C.MAX_PEX_ENTRIES} [PEX-1]",
                actual=str(len(entries)),
            )
        if b_id.hex() in ids:
            raise Fail(
                "recipient listed",
                expected="never the recipient itself [PEX-4]",
                actual=frame.describe(),
            )
        if x_id.hex() in ids:
            raise Fail(
                "listed a peer it only heard of by PEX and is not connected to",
                expected="only peers the target is connected to [PEX-4, PEX-10]",
                actual=frame.describe(),
            )
        if any(int(e["port"]) == 0 for e in entries):
            raise Fail(
                "entry with port 0",
                expected="only listening peers [PEX-4]",
                actual=frame.describe(),
            )
        if not any(
            str(e["peer_id"]) == a_id.hex() and int(e["port"]) == a_listener.port for e in entries
        ):
            raise Fail(
                "connected listening peer missing",
                expected=f"entry {a_id.hex()[:12]}.. port {a_listener.port} [PEX-4]",
                actual=frame.describe(),
            )
    finally:
        for listener in (a_listener, b_listener, x_listener):
            listener.close()


def higher_ids(ctx: CaseContext, ours: bytes) -> list[bytes]:
    """Peer IDs above `ours` as unsigned bytes (TERM-3) that other orders put below it: as a
    little-endian integer (the last byte decides), as signed bytes (0x80 and up negative);
    plus a random higher one."""
    ids = [ctx.peer_id(above=ours)]
    up = next((k for k, b in enumerate(ours) if b < 0xFF), None)
    if up is not None:  # larger at the first byte that can grow, smallest byte at the end
        ids.append(ours[:up] + bytes([ours[up] + 1]) + bytes(19 - up))
        if up < 19 and ids[-1][-1] >= ours[-1]:
            ids.pop()
    low = next((k for k, b in enumerate(ours) if b < 0x80), None)
    if low is not None:  # 0x80 where ours has a byte below it: negative as a signed byte
        ids.append(ours[:low] + b"\x80" + bytes(19 - low))
    return [i for i in dict.fromkeys(ids) if i > ours]


@case("no-dial-higher-id", section=SECTION, requirements=("DUP-1", "PEX-10", "TERM-3"))
def no_dial_higher_id(ctx: CaseContext) -> None:
    """The target dials none of several PEX entries whose peer IDs are higher than its own as
    unsigned bytes, chosen so that comparing as text-like or little-endian values would not
    say so (TERM-3)."""
    ids = higher_ids(ctx, ctx.target.peer_id)
    listeners = [Listener() for _ in ids]
    try:
        s = open_session(ctx)
        s.write(
            craft.peers(
                [
                    craft.peer_entry(i, "127.0.0.1", lst.port)
                    for i, lst in zip(ids, listeners, strict=True)
                ]
            )
        )
        for i, lst in zip(ids, listeners, strict=True):
            if lst.dialled_within(2.0 if lst is listeners[0] else 0.01):
                raise Fail(
                    "dialled a peer with a higher ID",
                    expected="no connection to the listed peer [DUP-1, TERM-3]",
                    actual=f"connection to the entry with peer ID {i.hex()}",
                )
        s.wire.expect(ExpectOpen(0.05))
        sentinel(s)
    finally:
        for lst in listeners:
            lst.close()


@case("oversized-list", section=SECTION, requirements=("PEX-2", "SEC-2"), kind="hostile")
def oversized_list(ctx: CaseContext) -> None:
    """A peers message with 51 entries: error PEX_VIOLATION then close."""
    s = open_session(ctx)
    entries = [
        craft.peer_entry(bytes([i + 1]) * 20, "127.0.0.1", 1) for i in range(C.MAX_PEX_ENTRIES + 1)
    ]
    s.write(craft.peers(entries))
    expect_error_close(s.wire, E.PEX_VIOLATION)


@case("bad-family", section=SECTION, requirements=("PEX-3",), kind="hostile")
def bad_family(ctx: CaseContext) -> None:
    """A peers entry with address family 5: error MALFORMED then close."""
    s = open_session(ctx)
    s.write(craft.peers([craft.peer_entry(b"\x01" * 20, "127.0.0.1", 1, family=5)]))
    expect_error_close(s.wire, E.MALFORMED)


@case("count-mismatch", section=SECTION, requirements=("PEX-3", "PEX-1"), kind="hostile")
def count_mismatch(ctx: CaseContext) -> None:
    """A peers count larger than the entries present: error MALFORMED then close."""
    s = open_session(ctx)
    s.write(craft.peers([craft.peer_entry(b"\x01" * 20, "127.0.0.1", 1)], count=3))
    expect_error_close(s.wire, E.MALFORMED)


@case("valid-entries-accepted", section=SECTION, requirements=("PEX-1",))
def valid_entries_accepted(ctx: CaseContext) -> None:
    """IPv4, IPv6, port-0 and own-ID entries are accepted; the last two are ignored (no dial)."""
    s = open_session(ctx)
    s.write(
        craft.peers(
            [
                craft.peer_entry(b"\x00" * 19 + b"\x01", "127.0.0.1", 0),
                craft.peer_entry(b"\xff" * 20, "::1", 9),
                craft.peer_entry(s.peer_id, "127.0.0.1", 9),
            ]
        )
    )
    sentinel(s)


@case("peers-interval", section=SECTION, requirements=("PEX-6",))
def peers_interval(ctx: CaseContext) -> None:
    """While the target's peer set changes, two peers messages to one connection are at least
    PEX_MIN_INTERVAL apart."""
    import time

    listener = Listener()
    try:
        watcher = open_session(ctx)
        arrivals: list[float] = []
        start = time.monotonic()
        churn = 0
        while time.monotonic() - start < C.PEX_MIN_INTERVAL + 1.5:
            # a listening peer arrives and leaves: the target's connected set changes
            w = ctx.connect()
            w.expect(ExpectMessage(("handshake",), skip=("keepalive",)))
            w.write(
                our_handshake(
                    ctx, peer_id=ctx.peer_id(above=ctx.target.peer_id), listen_port=listener.port
                )
                + craft.bitfield(craft.empty_bitfield(ctx.target.piece_count))
            )
            w.expect(ExpectMessage(("bitfield",), skip=("keepalive",)))
            churn += 1
            seen = len(watcher.wire.received)
            watcher.wire.expect(ExpectOpen(0.4))
            arrivals += [
                time.monotonic() for f in watcher.wire.received[seen:] if f.name == "peers"
            ]
            w.close()
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        if gaps and min(gaps) < C.PEX_MIN_INTERVAL - 0.5:
            raise Fail(
                "peers messages too close together",
                expected=f">= {C.PEX_MIN_INTERVAL:g}s apart [PEX-6]",
                actual=f"{min(gaps):.2f}s between two of {len(arrivals)} peers messages",
            )
    finally:
        listener.close()
