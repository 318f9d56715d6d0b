"""One download of a file at a time: a lock beside NAME.part, held while the node runs.

Two `get`s of the same share into the same folder would both resume the same `.part` and write
over each other's state ([STORE-5]). The lock is an OS lock (flock on POSIX, msvcrt on
Windows) on `NAME.part.lock`: the OS drops it when the process dies, even by `kill -9`, so a
crash never leaves a stale lock behind. The file says who holds it (pid, host, start time), so
the second `get` can tell the user which process to look for.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from pathlib import Path

from p2pshare_node.safeio import open_for_writing, remove_quietly

LOCK_SUFFIX = ".lock"
MAX_HOLDER_TEXT = 200


class LockedError(Exception):
    """Another process holds the download's lock."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is locked by {holder}")
        self.path = path
        self.holder = holder


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class DownloadLock:
    """Held from the moment a download's file is known until the node closes."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, part: Path) -> DownloadLock:
        """Lock `part`'s download, or raise LockedError naming the holder."""
        path = part.with_name(part.name + LOCK_SUFFIX)
        fd = open_for_writing(path)
        if not _try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            raise LockedError(path, holder)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        text = f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n"
        os.ftruncate(fd, 0)
        os.lseek(fd, 2, os.SEEK_SET)  # (byte 0 is the one msvcrt locks; keep the text past it)
        os.write(fd, text.encode("utf-8", "replace")[:MAX_HOLDER_TEXT])
        return cls(path, fd)

    def release(self) -> None:
        """Drop the lock and its file (closing the descriptor releases the OS lock)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            remove_quietly(self.path)  # (before the close: nobody can take a lock on it between)
            os.close(fd)


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        os.lseek(fd, 2, os.SEEK_SET)
        raw = os.read(fd, MAX_HOLDER_TEXT)
        text = "".join(c for c in raw.decode("utf-8", "replace") if c.isprintable()).strip()
        if text:
            return text
    return "another p2pshare process"
