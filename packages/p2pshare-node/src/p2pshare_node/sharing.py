"""Compute the Metainfo of a file to share: piece SHA-256s and whole-file SHA-1 in one pass.

The file is read once in large blocks; SHA-1 of block k runs in a helper thread while this
thread hashes the pieces of block k (hashlib releases the GIL), so both hashes cost roughly
one read of the file on a two-core machine.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from p2pshare_core.metainfo import Metainfo, choose_piece_size

BLOCK_TARGET = 8 * 1024 * 1024
_BINARY = getattr(os, "O_BINARY", 0)


def build_metainfo(path: Path, piece_size: int | None = None, name: str | None = None) -> Metainfo:
    """Hash the file at path; blocking, run it in a thread from async code."""
    size = os.stat(path).st_size
    ps = choose_piece_size(size) if piece_size is None else choose_piece_size(size, piece_size)
    # a block is a whole number of pieces so no piece straddles two blocks
    block = max(ps, (BLOCK_TARGET // ps) * ps)
    buffers = [bytearray(block), bytearray(block)]
    sha1 = hashlib.sha1()
    piece_hashes: list[bytes] = []
    fd = os.open(path, os.O_RDONLY | _BINARY)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2pshare-sha1") as pool:
            pending = None
            remaining = size
            turn = 0
            while remaining > 0:
                buf = buffers[turn]
                turn ^= 1
                got = _read_full(fd, buf, min(block, remaining))
                if got == 0:
                    raise OSError(f"{path} shrank while it was being hashed")
                view = memoryview(buf)[:got]
                if pending is not None:
                    pending.result()  # the other buffer is free again before it is reused
                pending = pool.submit(sha1.update, view)
                for start in range(0, got, ps):
                    piece_hashes.append(hashlib.sha256(view[start : start + ps]).digest())
                remaining -= got
            if pending is not None:
                pending.result()
    finally:
        os.close(fd)
    return Metainfo(
        name=name if name is not None else path.name,
        file_size=size,
        piece_size=ps,
        file_sha1=sha1.digest(),
        piece_hashes=tuple(piece_hashes),
    )


def _read_full(fd: int, buf: bytearray, want: int) -> int:
    """Fill buf[:want] from fd (os.readv keeps it copy-free where available)."""
    view = memoryview(buf)
    got = 0
    while got < want:
        if hasattr(os, "readv"):
            n = os.readv(fd, [view[got:want]])
        else:
            data = os.read(fd, want - got)
            n = len(data)
            view[got : got + n] = data
        if n == 0:
            break
        got += n
    return got
