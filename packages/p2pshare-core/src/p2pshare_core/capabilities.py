"""Capability bits: the handshake's `flags` byte, and which extensions are in force (spec 5.1).

Each side's handshake is its whole offer; an extension is in force on a connection only when
both offered it ([EXT-3]). Unknown bits from a peer are ignored ([EXT-2]); we never offer a bit
we do not implement ([EXT-1]) nor the reserved bit 7 ([EXT-4]). Each extension adds its bit
to `IMPLEMENTED` together with its section, and its frame ids to `FRAME_IDS`: those ids are
decoded only on connections where the extension is in force, and skipped elsewhere [FRAME-5].
"""

from __future__ import annotations

from enum import IntFlag


class Capability(IntFlag):
    """The registry of spec section 5.1 (bits 1..6 unassigned so far)."""

    SPAN = 0x01  # multi-piece requests, spec 5.2
    EXTENDED = 0x80  # reserved [EXT-4]: "more bits follow", not defined yet


IMPLEMENTED = Capability.SPAN
"""What this implementation can offer (a node may offer less: SwarmConfig.capabilities)."""

FRAME_IDS: dict[int, Capability] = {0x10: Capability.SPAN, 0x11: Capability.SPAN}
FRAME_IDS |= {0x12: Capability.SPAN, 0x13: Capability.SPAN}
"""The frame ids each extension defines: meaningful only where it is in force [EXT-3]."""


def check_offer(flags: int) -> None:
    """Raise ValueError for an offer we must not make: unknown or reserved bits [EXT-1, EXT-4]."""
    if flags & ~int(IMPLEMENTED) & 0xFF or flags & Capability.EXTENDED:
        raise ValueError(f"capability bits {flags:#04x} are not implemented (EXT-1, EXT-4)")
    if not 0 <= flags <= 0xFF:
        raise ValueError("capabilities are one byte")


def in_force(ours: int, theirs: int) -> Capability:
    """The extensions both sides offered [EXT-3]; unknown bits drop out [EXT-2]."""
    return Capability(ours & theirs & int(IMPLEMENTED))


def extension_names(bits: int) -> tuple[str, ...]:
    """Lower-case names of the known extensions in `bits`, e.g. ("span",) (for UIs and logs)."""
    return tuple(
        str(cap.name).lower()
        for cap in Capability
        if cap is not Capability.EXTENDED and cap.name and bits & cap
    )
