"""Test-only fault injection: make this node a known-broken peer.

Kept in one place so the product path stays honest: the node asks `Faults` what to do with each
outgoing frame or block and nothing else knows faults exist. Used by the end-to-end tests and by
the conformance suite's catalogue of broken targets (hidden `--fault` CLI option).
"""

from __future__ import annotations

import dataclasses
import struct
from enum import Enum

from p2pshare_core.constants import MAX_PIECES
from p2pshare_core.metainfo import Metainfo

_HAVE = 0x02
_BITFIELD = 0x01
_REJECT = 0x05


class Fault(Enum):
    CORRUPT = "corrupt"  # serve piece data with every byte flipped
    NO_HAVE = "no-have"  # never announce pieces: empty bitfield, no have messages
    IGNORE_REQUEST = "ignore-request"  # silently drop requests: no piece, no reject
    WRONG_SHA1 = "wrong-sha1"  # seeder: announce a metainfo whose whole-file SHA-1 is wrong
    HUGE_CLAIM = "huge-claim"  # seeder: announce a self-consistent metainfo of 1 TiB


HUGE_CLAIM_SIZE = 1 << 40
"""What a `huge-claim` seeder says its file is: far more than any test machine has free."""


class Faults:
    """Applies the configured faults to outgoing traffic; a no-op when none are set."""

    def __init__(self, faults: frozenset[Fault] = frozenset()) -> None:
        self.faults = faults

    def __bool__(self) -> bool:
        return bool(self.faults)

    @property
    def drop_blocks(self) -> bool:
        return Fault.IGNORE_REQUEST in self.faults

    def metainfo(self, meta: Metainfo) -> Metainfo:
        """The metainfo a seeder announces (every piece hash right, the file hash wrong)."""
        if Fault.WRONG_SHA1 in self.faults:
            meta = dataclasses.replace(meta, file_sha1=bytes(b ^ 0xFF for b in meta.file_sha1))
        if Fault.HUGE_CLAIM in self.faults:
            piece_size = HUGE_CLAIM_SIZE // MAX_PIECES
            meta = Metainfo(
                name=meta.name,
                file_size=HUGE_CLAIM_SIZE,
                piece_size=piece_size,
                file_sha1=meta.file_sha1,
                piece_hashes=[bytes(32)] * MAX_PIECES,
            )
        return meta

    def block_data(self, data: bytes) -> bytes:
        if Fault.CORRUPT in self.faults:
            return _flip(data)
        return data

    def outgoing(self, data: bytes) -> bytes:
        """Rewrite a run of encoded frames according to the faults."""
        if not (Fault.NO_HAVE in self.faults or Fault.IGNORE_REQUEST in self.faults):
            return data
        out: list[bytes] = []
        pos = 0
        while pos + 4 <= len(data):
            (length,) = struct.unpack_from(">I", data, pos)
            frame = data[pos : pos + 4 + length]
            pos += 4 + length
            message_id = frame[4] if length else None
            if Fault.NO_HAVE in self.faults:
                if message_id == _HAVE:
                    continue
                if message_id == _BITFIELD:
                    frame = frame[:5] + bytes(length - 1)
            if Fault.IGNORE_REQUEST in self.faults and message_id == _REJECT:
                continue
            out.append(frame)
        out.append(data[pos:])
        return b"".join(out)


def _flip(data: bytes) -> bytes:
    """Invert every byte quickly (int arithmetic on the whole buffer)."""
    n = len(data)
    flipped = int.from_bytes(data, "big") ^ ((1 << (8 * n)) - 1)
    return flipped.to_bytes(n, "big")
