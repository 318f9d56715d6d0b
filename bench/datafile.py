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


def generate_tree(root: Path, size: int, files: int, seed_bytes: bytes) -> str:
    """A folder of `files` files holding `size` bytes in all, spread over subfolders of at most
    100 files (as photo albums and source trees are); returns its `tree_digest`."""
    root.mkdir()
    view = memoryview(seed_bytes)  # (slices of it are not copies of 64 MiB)
    each, extra = divmod(size, files)
    for i in range(files):
        folder = root / f"d{i // 100:03d}"
        folder.mkdir(exist_ok=True)
        part = each + (1 if i < extra else 0)
        # every file differs (its index is stamped at its start), so nothing dedupes
        if part > STAMP_EVERY:
            generate(folder / f"f{i:05d}.bin", part, seed_bytes[i * 64 : i * 64 + CHUNK])
            continue
        start = (i * 4096) % (len(seed_bytes) - STAMP_EVERY)
        data = struct.pack(">QQ", i, 0x7EE) + view[start : start + max(0, part - 16)]
        (folder / f"f{i:05d}.bin").write_bytes(data[:part])
    return tree_digest(root)


def tree_digest(root: Path) -> str:
    """SHA-1 over every file's relative path and SHA-1, in path order: two trees with the same
    digest have the same files with the same bytes (what the harness checks after a trial)."""
    h = hashlib.sha1()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0" + sha1_file(path).encode())
    return h.hexdigest()
