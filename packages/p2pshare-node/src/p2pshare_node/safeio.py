"""Files a download creates: opened without following links, and never bigger than the disk.

The download folder is shared with everything else the user (or another program, or another
user of a shared folder) keeps there. A symlink planted at `NAME.part` must not redirect our
writes to a file elsewhere, nor a hard link make us overwrite a file that lives under another
name ([STORE-2]). Every file a node creates or writes is opened here: with O_NOFOLLOW where the
platform has it (POSIX), so the check and the open are one atomic step, and with an lstat check
first where it does not (Windows, where creating symlinks needs privileges anyway); then the
open file itself is checked to be a regular file with one name.

Free space is checked before a download allocates its file ([STORE-1]): a metainfo may claim up
to 8 TiB, and preallocating that much would fill the disk before failing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_LINK_ERRNOS = {errno.ELOOP, getattr(errno, "EMLINK", errno.ELOOP)}  # (FreeBSD says EMLINK)

ROOM_MARGIN = 1024 * 1024
"""Free bytes kept beyond the file itself: the state file and the journal live beside it."""


class UnexpectedFileError(OSError):
    """Something that is not a plain file of ours stands where we are about to write."""


class NotEnoughSpaceError(OSError):
    """The target filesystem has less free space than the download needs."""

    def __init__(self, directory: Path, needed: int, free: int) -> None:
        super().__init__(errno.ENOSPC, "not enough free space")
        self.directory = directory
        self.needed = needed
        self.free = free


def open_for_writing(path: Path, *, append: bool = False, exclusive: bool = False) -> int:
    """Open (creating if needed) path for writing; never through a symlink, never a hard link.

    exclusive: the file must not exist yet (O_EXCL). Raises UnexpectedFileError when a
    symlink, a directory, a device, a FIFO or a file with several names is in the way.
    """
    flags = os.O_CREAT | _BINARY | _NOFOLLOW
    flags |= (os.O_WRONLY | os.O_APPEND) if append else os.O_RDWR
    if exclusive:
        flags |= os.O_EXCL
    if not _NOFOLLOW and os.path.islink(path):  # best effort where O_NOFOLLOW does not exist
        raise UnexpectedFileError(f"{path} is a symbolic link: refusing to write through it")
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno in _LINK_ERRNOS:
            raise UnexpectedFileError(
                f"{path} is a symbolic link: refusing to write through it"
            ) from None
        if exc.errno == errno.EEXIST and exclusive:
            raise UnexpectedFileError(f"{path} already exists") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnexpectedFileError(f"{path} is not a regular file: refusing to write to it")
        if info.st_nlink > 1:
            raise UnexpectedFileError(
                f"{path} has {info.st_nlink} names (hard links): refusing to write to it"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_room(directory: Path, needed: int) -> None:
    """Raise NotEnoughSpaceError unless `needed` bytes (plus a margin) are free in directory."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return  # cannot tell (exotic filesystem): the allocation itself will report
    if needed + ROOM_MARGIN > free:
        raise NotEnoughSpaceError(directory, needed, free)


def allocated_bytes(path: Path) -> int:
    """Bytes already allocated to path on disk (0 if it does not exist or is not a plain file)."""
    try:
        info = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISREG(info.st_mode):
        return 0
    blocks = getattr(info, "st_blocks", None)  # (POSIX: sparse files count what they hold)
    return info.st_size if blocks is None else min(info.st_size, blocks * 512)


def human_bytes(count: int) -> str:
    """1.5 GiB, 512 KiB, 40 B: for messages about sizes (binary units, one decimal)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def remove_quietly(*paths: Path) -> None:
    """Delete files we created, ignoring the ones already gone."""
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
