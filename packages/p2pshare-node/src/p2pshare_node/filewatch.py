"""Noticing that the file we serve changed under us, so we never vouch for bytes we did not check.

A user may edit, truncate or append to a file after `share` hashed it (or a disk may rot it).
Peers verify every piece, so they are never fooled, but a seeder that keeps sending the changed
bytes makes every downloader fail the same piece forever ([STORE-6]). The serving node stamps
the open file (size, modification time, inode) when its pieces are known good and compares the
stamp at every progress tick: one fstat, far cheaper than hashing what is sent. When it moved,
every piece is re-hashed off the loop; until a piece is vouched for again, requests for it are
answered with reject, and a piece that no longer matches is never served again by this run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class FileStamp:
    """What identifies the state of an open file's content without reading it."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, fd: int) -> FileStamp:
        info = os.fstat(fd)
        return cls(size=info.st_size, mtime_ns=info.st_mtime_ns, inode=info.st_ino)


def describe_change(before: FileStamp, after: FileStamp) -> str:
    """'grew by 12 bytes', 'was truncated by 4096 bytes' or 'was modified', for a message."""
    if after.size > before.size:
        return f"grew by {after.size - before.size} bytes"
    if after.size < before.size:
        return f"was truncated by {before.size - after.size} bytes"
    return "was modified"
