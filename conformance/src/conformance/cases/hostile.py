"""Hostile input that no single requirement names: garbage, connection storms, half-opens.

The runner follows every hostile case with a health check (fresh connection, verified data),
so "survives" is checked, not assumed.
"""

from __future__ import annotations

import random

from p2pshare_core.constants import MAX_HANDSHAKING

from conformance import craft
from conformance.cases._util import E, read_handshake, sentinel
from conformance.context import CaseContext
from conformance.expect import ExpectClose, ExpectMessage
from conformance.outcomes import Fail
from conformance.registry import case
from conformance.session import open_session

SECTION = "hostile"


@case(
    "garbage-instead-of-handshake", section=SECTION, requirements=("HS-1", "ERR-1"), kind="hostile"
)
def garbage_instead_of_handshake(ctx: CaseContext) -> None:
    """Random bytes where the handshake belongs: the target closes (with an error)."""
    wire = ctx.connect()
    read_handshake(wire)
    noise = random.Random(ctx.opts.seed).randbytes(63)
    wire.write(craft.frame(craft.HANDSHAKE, noise))  # a handshake-id frame of garbage
    wire.expect(ExpectClose(None))


@case("garbage-after-handshake", section=SECTION, requirements=("FRAME-1", "ERR-1"), kind="hostile")
def garbage_after_handshake(ctx: CaseContext) -> None:
    """Short random frames with assigned ids after the handshake: error and close."""
    s = open_session(ctx)
    # a request with a 5-byte payload is malformed whatever the bytes are
    s.write(b"\x00\x00\x00\x06\x03" + random.Random(ctx.opts.seed).randbytes(5))
    s.wire.expect(ExpectClose(None))


@case("connection-storm", section=SECTION, requirements=("SEC-3",), kind="hostile")
def connection_storm(ctx: CaseContext) -> None:
    """20 connections opened and dropped at once (some mid-handshake) do not hurt the target.

    A target whose (configurable) connection limit is below 20 refuses some of them with
    TOO_MANY_CONNECTIONS instead of a handshake: that is DUP-7, not a fault."""
    wires = [ctx.connect() for _ in range(20)]
    for i, wire in enumerate(wires):
        if i % 2:
            frame = wire.expect(ExpectMessage(("handshake", "error"), skip=("keepalive",)))
            assert frame is not None
            if frame.name == "error" and frame.fields.get("code") != E.TOO_MANY_CONNECTIONS:
                raise Fail(
                    "wrong refusal",
                    expected="a handshake, or TOO_MANY_CONNECTIONS [DUP-7]",
                    actual=frame.describe(),
                )
        wire.close()


@case("half-open-then-close", section=SECTION, requirements=("SEC-3",), kind="hostile")
def half_open_then_close(ctx: CaseContext) -> None:
    """Connect and close at once, before reading anything: the target carries on."""
    ctx.connect().close()
    wire = ctx.connect()
    wire.shutdown_write()
    wire.expect(ExpectClose(None, error_required=False))


@case("half-open-takes-no-slot", section=SECTION, requirements=("SEC-7",), kind="hostile")
def half_open_takes_no_slot(ctx: CaseContext) -> None:
    """As many connections as the target's peer limit (--connection-limit; else 10, at most
    MAX_HANDSHAKING) that never send their handshake do not keep a full session out: it gets
    its handshake, its bitfield and an answer to a request while they stay open."""
    count = min(ctx.opts.connection_limit or 10, MAX_HANDSHAKING)
    idle = [ctx.connect() for _ in range(count)]
    try:
        for wire in idle:
            read_handshake(wire)
        sentinel(open_session(ctx))
    finally:
        for wire in idle:
            wire.close()
