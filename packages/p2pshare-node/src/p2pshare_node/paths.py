"""Where a download may be written: never outside the chosen folder, whatever name a peer sends."""

from __future__ import annotations

from pathlib import Path

from p2pshare_core.metainfo import validate_name

PART_SUFFIX = ".part"
STATE_SUFFIX = ".part.json"


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
    candidate = (base / name).resolve()
    if candidate.parent != base:
        raise UnsafeNameError(f"file name {name!r} would be written outside {base}")
    return candidate


def part_path(final: Path) -> Path:
    """The file a download is written to until it is verified."""
    return final.with_name(final.name + PART_SUFFIX)


def state_path(final: Path) -> Path:
    """The resume state file, kept beside the .part."""
    return final.with_name(final.name + STATE_SUFFIX)
