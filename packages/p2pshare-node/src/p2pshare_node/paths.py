"""Where a download may be written: never outside the chosen folder, whatever name a peer sends."""

from __future__ import annotations

import hashlib
from pathlib import Path

from p2pshare_core.metainfo import validate_name

PART_SUFFIX = ".part"
STATE_SUFFIX = ".part.json"
JOURNAL_SUFFIX = ".part.journal"


class UnsafeNameError(ValueError):
    """The file name announced by a peer cannot be used as a file name in the download folder."""


def safe_output_path(directory: Path, name: str) -> Path:
    """Join a peer-supplied name to directory, refusing anything that escapes it.

    The core's validate_name already rejects separators, '..', control and reserved names;
    resolving and checking containment as well protects against anything it may have missed
    (symlinked names, platform quirks).
    """
    try:
        validate_name(name)
    except Exception as exc:  # the core raises its own error types; all mean "unsafe"
        raise UnsafeNameError(f"unsafe file name {name!r}: {exc}") from None
    base = directory.resolve()
    # The name itself is not resolved: a symlink planted at it is "an existing file" (the
    # caller refuses to overwrite it), never a way to be redirected elsewhere.
    candidate = base / name
    if candidate.parent != base or name in (".", ".."):
        raise UnsafeNameError(f"file name {name!r} would be written outside {base}")
    return candidate


MAX_FILE_NAME_BYTES = 255
"""What most filesystems allow in one name (ext4, APFS, NTFS in UTF-16 units, roughly)."""

_SIDECAR_ROOM = 32  # ".part.journal", or the state file's temporary ".NAME.part.json.PID.tmp"


def _sidecar_base(final: Path) -> str:
    """The name the sidecar files start with: the file's own name, shortened if it must be.

    A legal share name may be 255 bytes, leaving no room for ".part": such names get a stem cut
    at a character boundary plus "~" and a digest of the full name, so the sidecars of two long
    names never collide and the same download always finds its own again.
    """
    name = final.name
    raw = name.encode("utf-8")
    if len(raw) + _SIDECAR_ROOM <= MAX_FILE_NAME_BYTES:
        return name
    tag = "~" + hashlib.sha256(raw).hexdigest()[:16]
    keep = MAX_FILE_NAME_BYTES - _SIDECAR_ROOM - len(tag)
    stem = raw[:keep].decode("utf-8", "ignore")
    return stem + tag


def part_path(final: Path) -> Path:
    """The file a download is written to until it is verified."""
    return final.with_name(_sidecar_base(final) + PART_SUFFIX)


def state_path(final: Path) -> Path:
    """The resume state file, kept beside the .part."""
    return final.with_name(_sidecar_base(final) + STATE_SUFFIX)


def journal_path(final: Path) -> Path:
    """The verified-piece journal (journal.py), kept beside the .part."""
    return final.with_name(_sidecar_base(final) + JOURNAL_SUFFIX)
