"""Section 14, dialing and duplicates: self-connections, duplicate rules, connection limit."""

from __future__ import annotations

import socket
import time

from p2pshare_core import constants as C

from conformance import craft
from conformance.cases._util import E, expect_error_close, read_handshake, sentinel
from conformance.cases.pex import Listener
from conformance.context import CaseContext
from conformance.expect import ExpectClose, ExpectMessage, ExpectOpen
from conformance.outcomes import Fail, Unsupported
from conformance.registry import case
from conformance.session import open_session, our_handshake
from conformance.wire import Wire

SECTION = "connections"


@case("self-connection", section=SECTION, requirements=("DUP-3",))
def self_connection(ctx: CaseContext) -> None:
    """A handshake carrying the target's own peer ID: SELF_CONNECTION."""
    wire = ctx.connect()
    read_handshake(wire)
    wire.write(our_handshake(ctx, peer_id=ctx.target.peer_id))
    expect_error_close(wire, E.SELF_CONNECTION)


@case("same-dialer-duplicate", section=SECTION, requirements=("DUP-5",))
def same_dialer_duplicate(ctx: CaseContext) -> None:
    """Two connections we dialed with one peer ID: closing the later one is *our* job, so the
    target (the acceptor) keeps both open and serves both."""
    pid = ctx.peer_id()
    first = open_session(ctx, peer_id=pid)
    second = open_session(ctx, peer_id=pid)
    second.wire.expect(ExpectOpen(0.3))
    first.wire.expect(ExpectOpen(0.1))
    sentinel(first)
    sentinel(second)


@case("duplicate-keeps-greater-dialer", section=SECTION, requirements=("DUP-4", "DUP-1"))
def duplicate_keeps_greater_dialer(ctx: CaseContext) -> None:
    """The target dials a lower-ID peer learned by PEX; when that peer also dials the target,
    the target keeps its own (greater-ID) connection and closes ours with DUPLICATE_CONNECTION."""
    if ctx.target.peer_id == bytes(20):
        raise Unsupported("no peer ID is below the target's")
    listener = Listener()
    try:
        low = ctx.peer_id(below=ctx.target.peer_id)
        informer = open_session(ctx)
        informer.write(craft.peers([craft.peer_entry(low, "127.0.0.1", listener.port)]))
        listener.sock.settimeout(3.0)
        try:
            inbound, _ = listener.sock.accept()
        except TimeoutError as exc:
            raise Unsupported(
                "the target did not dial a lower-ID PEX peer (e.g. a seeder that needs nothing)"
            ) from exc
        inbound.settimeout(ctx.opts.timeout)
        with inbound:
            _answer_dial(ctx, inbound, low)
            ours = ctx.connect()
            read_handshake(ours)
            ours.write(
                our_handshake(ctx, peer_id=low, listen_port=listener.port)
                + craft.bitfield(craft.empty_bitfield(ctx.target.piece_count))
            )
            ours.expect(ExpectClose((int(E.DUPLICATE_CONNECTION),)))
    finally:
        listener.close()


def _answer_dial(ctx: CaseContext, sock: socket.socket, peer_id: bytes) -> None:
    """Act as the acceptor on the target's outbound connection: handshake + bitfield."""
    sock.sendall(
        our_handshake(ctx, peer_id=peer_id)
        + craft.bitfield(craft.empty_bitfield(ctx.target.piece_count))
    )
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "big"):
        chunk = sock.recv(65536)
        if not chunk:
            raise Fail("the target dialed and hung up", expected="its handshake", actual=buf.hex())
        buf += chunk


def _open_or_refused(ctx: CaseContext) -> tuple[Wire, bool]:
    """Connect and complete our side; True if the target served it, False if it refused."""
    wire = ctx.connect()
    frame = wire.expect(ExpectMessage(("handshake", "error"), skip=("keepalive",)))
    assert frame is not None
    if frame.name == "handshake":
        wire.write(
            our_handshake(ctx, peer_id=ctx.peer_id())
            + craft.bitfield(craft.empty_bitfield(ctx.target.piece_count))
        )
        frame = wire.expect(ExpectMessage(("bitfield", "error"), skip=("keepalive",)))
        assert frame is not None
    if frame.name != "error":
        # The acceptor's bitfield leaves with its handshake, before ours is read; a limit that
        # counts completed handshakes (SEC-7) refuses only after reading ours. A reply to a
        # metainfo_request shows that our handshake was taken.
        wire.write(craft.metainfo_request(0))
        frame = wire.expect(ExpectMessage(("metainfo_data", "metainfo_reject", "error")))
        assert frame is not None
    if frame.name != "error":
        return wire, True
    if frame.fields.get("code") != E.TOO_MANY_CONNECTIONS:
        raise Fail(
            "wrong refusal", expected="TOO_MANY_CONNECTIONS [DUP-7]", actual=frame.describe()
        )
    wire.expect(ExpectClose(None, error_required=False))
    return wire, False


@case("connection-limit", section=SECTION, requirements=("DUP-7", "DUP-8", "SEC-2"), kind="hostile")
def connection_limit(ctx: CaseContext) -> None:
    """Above its connection limit the target refuses with TOO_MANY_CONNECTIONS and closes; once
    the open connections are closed, a redial with backoff is served again (DUP-8).

    Any limit is legal (MAX_CONNECTIONS is a default): the case learns it. Without
    --connection-limit a target that accepts MAX_CONNECTIONS + 5 is unsupported (its limit may
    be higher); with it, accepting more than the given limit fails."""
    known = ctx.opts.connection_limit
    ceiling = (known if known is not None else C.MAX_CONNECTIONS) + 5
    opened: list[Wire] = []
    refused = False
    for _ in range(ceiling):
        wire, served = _open_or_refused(ctx)
        if not served:
            refused = True
            break
        opened.append(wire)
    if not refused:
        if known is not None:
            raise Fail(
                "no connection limit",
                expected=f"TOO_MANY_CONNECTIONS above {known} connections [DUP-7]",
                actual=f"{len(opened)} connections served",
            )
        raise Unsupported(f"the target accepted {len(opened)} connections (its limit is higher)")
    if known is not None and len(opened) < known:
        raise Fail(
            "refused below its configured limit",
            expected=f"{known} connections served [DUP-7]",
            actual=f"refused the connection after {len(opened)}",
        )
    for wire in opened:
        wire.close()
    deadline = time.monotonic() + max(5.0, 2 * ctx.opts.timeout)
    delay = 0.05
    while True:
        _, served = _open_or_refused(ctx)
        if served:
            return
        if time.monotonic() + delay > deadline:
            raise Fail(
                "closed connections still count against the limit",
                expected="a redial served once the others are closed [DUP-8]",
                actual=f"still TOO_MANY_CONNECTIONS after {len(opened)} closes",
            )
        time.sleep(delay)  # backoff between redials, as ERR-10 asks of a refused peer
        delay *= 2
