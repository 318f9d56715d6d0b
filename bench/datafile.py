"""Generate benchmark input files quickly, with every 16 KiB block unique.

Why not plain os.urandom: 8 GiB of it is slow to make; why not zeros: identical blocks would let a
contender cheat by deduplicating. A random 64 MiB base chunk, stamped with its position every
16 KiB, is fast to write and gives distinct piece hashes at any piece size >= 16 KiB.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

CHUNK = 64 * 1024 * 1024
STAMP_EVERY = 16 * 1024


def generate(path: Path, size: int, seed_bytes: bytes | None = None) -> str:
    """Write `size` bytes to `path`; return the file's SHA-1 hex (computed while writing)."""
    base = seed_bytes if seed_bytes is not None else os.urandom(CHUNK)
    sha1 = hashlib.sha1()
    written = 0
    with open(path, "wb") as fh:
        while written < size:
            n = min(CHUNK, size - written)
            buf = bytearray(base[:n])
            for off in range(0, n, STAMP_EVERY):
                buf[off : off + 16] = struct.pack(">QQ", written + off, 0x5EED)
            fh.write(buf)
            sha1.update(buf)
            written += n
    return sha1.hexdigest()


def sha1_file(path: Path, block: int = 4 * 1024 * 1024) -> str:
    """Whole-file SHA-1, used by the harness to check each download outside the clock."""
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()
