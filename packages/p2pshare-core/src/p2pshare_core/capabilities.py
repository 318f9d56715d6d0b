"""Capability bits: the handshake's `flags` byte, and which extensions are in force (spec 5.1).

Each side's handshake is its whole offer; an extension is in force on a connection only when
both offered it ([EXT-3]). Unknown bits from a peer are ignored ([EXT-2]); we never offer a bit
we do not implement ([EXT-1]) nor the reserved bit 7 ([EXT-4]). The registry is empty in
version 1.1; an extension adds its bit to `IMPLEMENTED` together with its section.
"""

from __future__ import annotations

from enum import IntFlag


class Capability(IntFlag):
    """The registry of spec section 5.1 (bits 0..6 unassigned so far)."""

    EXTENDED = 0x80  # reserved [EXT-4]: "more bits follow", not defined yet


IMPLEMENTED = Capability(0)
"""What this implementation can offer: nothing yet (multi-piece requests will be the first)."""


def check_offer(flags: int) -> None:
    """Raise ValueError for an offer we must not make: unknown or reserved bits [EXT-1, EXT-4]."""
    if flags & ~int(IMPLEMENTED) & 0xFF or flags & Capability.EXTENDED:
        raise ValueError(f"capability bits {flags:#04x} are not implemented (EXT-1, EXT-4)")
    if not 0 <= flags <= 0xFF:
        raise ValueError("capabilities are one byte")


def in_force(ours: int, theirs: int) -> Capability:
    """The extensions both sides offered [EXT-3]; unknown bits drop out [EXT-2]."""
    return Capability(ours & theirs & int(IMPLEMENTED))
