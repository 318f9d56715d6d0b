"""The connection state machine as data: everything that decides *which* message may come next
lives in TRANSITIONS, so the docs can draw it and the tests can enumerate it.

The protocol is symmetric: each side of a connection (ours = what we send, theirs = what we
receive) runs the same table independently (spec STATE-1). A message type missing from a state's
row is illegal there (UNEXPECTED_MESSAGE, STATE-2 / STATE-3) and moves that side to ERROR.

Rules that are not about message types: frames with an unassigned id are skipped in every state
that parses input (FRAME-5); once their side is CLOSED (they sent an error message) every further
byte is ignored (STATE-4); once their side is ERROR nothing is parsed again (STATE-6).
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from .events import (
    Bitfield,
    Cancel,
    Choke,
    ConnectionClosed,
    Error,
    Handshake,
    Have,
    Interested,
    KeepAlive,
    MetainfoData,
    MetainfoReject,
    MetainfoRequest,
    NotInterested,
    Peers,
    Piece,
    Reject,
    Request,
    SpanCancel,
    SpanData,
    SpanReject,
    SpanRequest,
    Unchoke,
)

__all__ = ["ACTIVE_MESSAGES", "TRANSITIONS", "Role", "State"]


class Role(Enum):
    """Who opened the TCP connection (matters for duplicate resolution, not for the table)."""

    DIALER = "dialer"
    ACCEPTOR = "acceptor"


class State(Enum):
    """State of one direction of a connection."""

    HANDSHAKE = "HANDSHAKE"  # nothing sent yet: the handshake must come first
    BITFIELD = "BITFIELD"  # handshake sent: the bitfield must come next
    ACTIVE = "ACTIVE"  # normal traffic
    CLOSED = "CLOSED"  # error message sent, or EOF: nothing more may come
    ERROR = "ERROR"  # a protocol rule was broken in this direction

    # Members are singletons compared by identity, so identity hashing is exact, and in C:
    # Enum's own __hash__ is Python code, run for every TRANSITIONS lookup (every frame).
    __hash__ = object.__hash__


ACTIVE_MESSAGES: Final[tuple[type, ...]] = (
    Have,
    Request,
    Piece,
    Reject,
    Cancel,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Peers,
    MetainfoRequest,
    MetainfoData,
    MetainfoReject,
    KeepAlive,
    SpanRequest,  # extension SPAN (spec 5.2), where it is in force
    SpanData,
    SpanReject,
    SpanCancel,
)
"""Messages that keep a side ACTIVE."""

TRANSITIONS: Final[dict[State, dict[type, State]]] = {
    State.HANDSHAKE: {
        Handshake: State.BITFIELD,
        Error: State.CLOSED,
        ConnectionClosed: State.CLOSED,
    },
    State.BITFIELD: {
        Bitfield: State.ACTIVE,
        KeepAlive: State.BITFIELD,
        Error: State.CLOSED,
        ConnectionClosed: State.CLOSED,
    },
    State.ACTIVE: {
        **dict.fromkeys(ACTIVE_MESSAGES, State.ACTIVE),
        Error: State.CLOSED,
        ConnectionClosed: State.CLOSED,
    },
    State.CLOSED: {
        # EOF after the error message (receive side) / closing after sending it (send side).
        ConnectionClosed: State.CLOSED,
    },
    State.ERROR: {
        # Only reachable on the send side: a caller that broke a rule may still say why it is
        # leaving. On the receive side nothing is parsed after an error, not even an Error.
        Error: State.CLOSED,
        ConnectionClosed: State.CLOSED,
    },
}
"""(state, message type) -> next state. Anything not listed is UNEXPECTED_MESSAGE."""
