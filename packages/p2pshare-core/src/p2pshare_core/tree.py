"""Multi-file shares (spec 8.7, TREE): the tree metainfo, its path rules and its byte layout.

A tree share is the concatenation of its files' bytes in the order of its file list; pieces run
across file boundaries, so everything the swarm does with a single file it does with a tree.
Only the metainfo (magic ``"P2PT"``, a file list between the name and the piece hashes) and the
handshake summary (the root name followed by ``/``, and a *tree tag* with the metainfo size in
place of the file's SHA-1) differ. `TreeMetainfo` is a `Metainfo`, so the swarm needs no change;
the node asks `spans` where the bytes of a piece live.

Every rule here is about a peer's data reaching a disk: paths are made of SAFE NAMES, bounded
in depth, length and count, strictly ordered (no duplicates), and no two of them may land on
the same file of a filesystem that ignores case or normalises Unicode.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property, lru_cache

from .constants import (
    DEFAULT_PIECE_SIZE,
    FILE_SHA1_LENGTH,
    MAX_FILE_SIZE,
    MAX_METAINFO_SIZE,
    MAX_PIECE_SIZE,
    MAX_PIECES,
    MAX_TREE_DEPTH,
    MAX_TREE_ENTRIES,
    MAX_TREE_NAME_LENGTH,
    MAX_TREE_PATH_LENGTH,
    PIECE_HASH_LENGTH,
    TREE_ENTRY_FIXED_SIZE,
    TREE_FIXED_SIZE,
    TREE_METAINFO_MAGIC,
)
from .errors import ErrorCode, LocalProtocolError
from .metainfo import (
    Metainfo,
    PieceHashes,
    ShareSummary,
    check_geometry,
    is_valid_piece_size,
    piece_count,
    validate_name,
)

__all__ = [
    "EMPTY_SHA1",
    "EntryKind",
    "Span",
    "TreeEntry",
    "TreeMetainfo",
    "check_entries",
    "check_summary",
    "choose_tree_piece_size",
    "fold_path",
    "split_path",
    "tree_metainfo_size",
]

TREE_VERSION = 1
EMPTY_SHA1 = hashlib.sha1(b"").digest()
_NO_SHA1 = bytes(FILE_SHA1_LENGTH)
_HEADER = struct.Struct(">4sBQIIH")
_ENTRY = struct.Struct(">BQ20sH")
assert _HEADER.size == TREE_FIXED_SIZE and _ENTRY.size == TREE_ENTRY_FIXED_SIZE


class EntryKind(IntEnum):
    """What an entry of the file list is [TREE-2]."""

    FILE = 0
    DIRECTORY = 1  # an empty directory; a non-empty one is implied by its contents


def _bad(requirement: str, reason: str) -> LocalProtocolError:
    return LocalProtocolError(ErrorCode.BAD_METAINFO, requirement, reason)


@lru_cache(maxsize=4096)
def _safe_component(component: str) -> str:
    """validate_name, remembered: the same folder names recur in every path below them."""
    return validate_name(component)


def split_path(path: str) -> tuple[str, ...]:
    """The components of a tree path, or LocalProtocolError(BAD_METAINFO) if it is invalid
    [TREE-3]: 1..MAX_TREE_PATH_LENGTH bytes, at most MAX_TREE_DEPTH SAFE NAMES joined by '/'."""
    if not isinstance(path, str):
        raise _bad("TREE-3", f"path must be str, not {type(path).__name__}")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise _bad("TREE-3", "path is not encodable as UTF-8") from None
    if not 1 <= size <= MAX_TREE_PATH_LENGTH:
        raise _bad("TREE-3", f"path must be 1..{MAX_TREE_PATH_LENGTH} bytes, got {size}")
    components = tuple(path.split("/"))
    if len(components) > MAX_TREE_DEPTH:
        raise _bad("TREE-3", f"path has {len(components)} components, max {MAX_TREE_DEPTH}")
    for component in components:
        try:
            _safe_component(component)
        except LocalProtocolError as err:
            raise _bad("TREE-3", f"path {path!r}: {err.reason}") from None
    return components


def _fold(component: str) -> str:
    """The canonical caseless form of the Unicode Standard: NFD(casefold(NFD(c))) [TREE-5]."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", component).casefold())


def fold_path(components: Iterable[str]) -> tuple[str, ...]:
    """The folded form of a path: two paths with the same one are one file on Windows/macOS."""
    return tuple(_fold(c) for c in components)


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One entry of the file list: a regular file, or an empty directory."""

    path: str
    size: int = 0
    sha1: bytes = EMPTY_SHA1
    kind: EntryKind = EntryKind.FILE

    @classmethod
    def directory(cls, path: str) -> TreeEntry:
        return cls(path, 0, _NO_SHA1, EntryKind.DIRECTORY)

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(self.path.split("/"))

    @property
    def is_dir(self) -> bool:
        return self.kind is EntryKind.DIRECTORY

    def order_key(self) -> tuple[bytes, ...]:
        """Entries are sorted by their components as unsigned bytes of UTF-8 [TREE-4]."""
        return tuple(c.encode("utf-8") for c in self.components)


def _check_entry(entry: TreeEntry) -> tuple[str, ...]:
    """The entry's components, once its kind, size, sha1 and path are checked [TREE-2, 3]."""
    if entry.kind not in (EntryKind.FILE, EntryKind.DIRECTORY):
        raise _bad("TREE-2", f"entry {entry.path!r} has unknown kind {entry.kind}")
    if not isinstance(entry.sha1, bytes) or len(entry.sha1) != FILE_SHA1_LENGTH:
        raise _bad("TREE-2", f"entry {entry.path!r}: sha1 must be {FILE_SHA1_LENGTH} bytes")
    if not 0 <= entry.size <= MAX_FILE_SIZE:
        raise _bad("TREE-2", f"entry {entry.path!r}: size {entry.size} exceeds {MAX_FILE_SIZE}")
    if entry.is_dir and (entry.size or entry.sha1 != _NO_SHA1):
        raise _bad("TREE-2", f"directory entry {entry.path!r} must have size 0 and no sha1")
    return split_path(entry.path)


_IMPLIED = None  # the kind recorded for a directory that only the paths below it imply


def check_entries(entries: Sequence[TreeEntry]) -> None:
    """Raise LocalProtocolError(BAD_METAINFO) unless the file list is legal [TREE-2..TREE-5].

    A peer's list of 65 536 entries is checked in well under a second: each entry's path is
    split once, and a directory already seen under the same name is not folded again.
    """
    if len(entries) > MAX_TREE_ENTRIES:
        raise _bad("TREE-2", f"{len(entries)} entries, max {MAX_TREE_ENTRIES}")
    previous: tuple[bytes, ...] | None = None
    seen: dict[tuple[str, ...], tuple[tuple[str, ...], EntryKind | None]] = {}
    folders: set[tuple[str, ...]] = set()  # implied directories claimed already, as written
    for entry in entries:
        components = _check_entry(entry)
        key = tuple(c.encode("utf-8") for c in components)
        if previous is not None and key <= previous:
            what = "twice" if key == previous else "out of order"
            raise _bad("TREE-4", f"entry {entry.path!r} is listed {what}")
        previous = key
        for depth in range(1, len(components)):
            folder = components[:depth]
            if folder not in folders:
                _claim(seen, folder, _IMPLIED)
                folders.add(folder)
        _claim(seen, components, entry.kind)


def _claim(
    seen: dict[tuple[str, ...], tuple[tuple[str, ...], EntryKind | None]],
    path: tuple[str, ...],
    kind: EntryKind | None,
) -> None:
    """Record `path` (an entry when kind is set, else an implied directory) [TREE-5]."""
    folded = fold_path(path)
    had = seen.get(folded)
    if had is None:
        seen[folded] = (path, kind)
        return
    other, other_kind = had
    shown = "/".join(path)
    if other != path:
        raise _bad(
            "TREE-5", f"{shown!r} and {'/'.join(other)!r} differ only by case or normalisation"
        )
    if kind is _IMPLIED and other_kind is _IMPLIED:
        return  # (one more path inside a directory already seen)
    if kind is _IMPLIED and other_kind is EntryKind.DIRECTORY:
        raise _bad("TREE-5", f"empty directory {shown!r} has entries below it")
    raise _bad("TREE-5", f"{shown!r} is both a file and a directory")


def tree_metainfo_size(name: str, entries: Sequence[TreeEntry], count: int) -> int:
    """Bytes of the tree metainfo encoding with `count` piece hashes [TREE-1]."""
    table = sum(TREE_ENTRY_FIXED_SIZE + len(e.path.encode("utf-8")) for e in entries)
    return TREE_FIXED_SIZE + len(name.encode("utf-8")) + table + PIECE_HASH_LENGTH * count


def choose_tree_piece_size(
    name: str, entries: Sequence[TreeEntry], requested: int = DEFAULT_PIECE_SIZE
) -> int:
    """META-6 for a tree: start at `requested`, double while the pieces or the metainfo are
    too many or too big [TREE-12]; ValueError if no piece size fits (the file list is)."""
    total = sum(e.size for e in entries)
    if not 0 <= total <= MAX_FILE_SIZE:
        raise ValueError(f"the tree holds {total} bytes, max {MAX_FILE_SIZE}")
    if not is_valid_piece_size(requested):
        raise ValueError(f"piece size {requested} is not a valid piece size")
    size = requested
    while (
        piece_count(total, size) > MAX_PIECES
        or tree_metainfo_size(name, entries, piece_count(total, size)) > MAX_METAINFO_SIZE
    ):
        if size >= MAX_PIECE_SIZE:
            raise ValueError(
                f"the file list of {len(entries)} entries does not fit in a metainfo of "
                f"{MAX_METAINFO_SIZE} bytes"
            )
        size *= 2
    return size


def _tree_tag(metainfo_size: int) -> bytes:
    """What a tree summary carries in place of file_sha1: the metainfo size, then zeros."""
    return metainfo_size.to_bytes(4, "big") + bytes(FILE_SHA1_LENGTH - 4)


def check_summary(summary: ShareSummary) -> None:
    """Raise LocalProtocolError unless a handshake's name (and tree tag) is legal.

    A single-file summary needs a SAFE NAME [HS-10]; a tree summary (its name ends with '/')
    needs a SAFE root name (BAD_METAINFO) and a tag holding a possible metainfo size, then
    zeros (BAD_HANDSHAKE) [TREE-9]. Geometry is checked apart [HS-9].
    """
    if not summary.is_tree:
        validate_name(summary.name)
        return
    root = summary.name[:-1]
    try:
        validate_name(root)
    except LocalProtocolError as err:
        raise _bad("TREE-9", f"tree root name: {err.reason}") from None
    tag = summary.file_sha1
    size = int.from_bytes(tag[:4], "big")
    least = tree_metainfo_size(root, (), summary.piece_count)
    if any(tag[4:]) or not least <= size <= MAX_METAINFO_SIZE:
        raise LocalProtocolError(
            ErrorCode.BAD_HANDSHAKE,
            "TREE-9",
            f"tree tag {tag.hex()} does not hold a metainfo size in {least}..{MAX_METAINFO_SIZE} "
            "followed by zeros",
        )


@dataclass(frozen=True, slots=True)
class Span:
    """Part of a byte range of the concatenation that lies in one file."""

    entry: int  # index into TreeMetainfo.entries
    offset: int  # in that file
    length: int


@dataclass(frozen=True)
class TreeMetainfo(Metainfo):
    """A tree share's metainfo [TREE-1]; `name` is the root directory's name.

    As a `Metainfo`, `file_size` is the total size and `file_sha1` the tree tag [TREE-8], so
    the swarm handles a tree like a file. Build one with `TreeMetainfo.build`.
    """

    entries: tuple[TreeEntry, ...] = ()

    @classmethod
    def build(
        cls,
        name: str,
        piece_size: int,
        entries: Iterable[TreeEntry],
        piece_hashes: Sequence[bytes],
    ) -> TreeMetainfo:
        """From the file list (any order: it is sorted [TREE-4]) and the pieces' hashes."""
        items = tuple(sorted(entries, key=TreeEntry.order_key))
        total = sum(e.size for e in items)
        size = tree_metainfo_size(name, items, len(piece_hashes))
        return cls(name, total, piece_size, _tree_tag(size), piece_hashes, items)

    def __post_init__(self) -> None:
        try:
            validate_name(self.name)
        except LocalProtocolError as err:
            raise _bad("TREE-2", f"root name: {err.reason}") from None
        name = self.name.encode("utf-8")
        if len(name) > MAX_TREE_NAME_LENGTH:
            raise _bad("TREE-2", f"root name is {len(name)} bytes, max {MAX_TREE_NAME_LENGTH}")
        check_geometry(self.file_size, self.piece_size, ErrorCode.BAD_METAINFO, "TREE-2")
        entries = self.entries
        check_entries(entries)
        total = sum(e.size for e in entries)
        if total != self.file_size:
            raise _bad("TREE-2", f"total_size {self.file_size}, the entries hold {total}")
        hashes = self.piece_hashes
        if not isinstance(hashes, PieceHashes):
            hashes = PieceHashes.of(hashes)
        expected = piece_count(self.file_size, self.piece_size)
        if len(hashes) != expected:
            raise _bad("TREE-1", f"expected {expected} piece hashes, got {len(hashes)}")
        size = tree_metainfo_size(self.name, entries, expected)
        if size > MAX_METAINFO_SIZE:
            raise _bad("TREE-1", f"tree metainfo is {size} bytes, max {MAX_METAINFO_SIZE}")
        if self.file_sha1 != _tree_tag(size):
            raise _bad("TREE-8", "file_sha1 of a tree must be its tree tag")
        head = _HEADER.pack(
            TREE_METAINFO_MAGIC, TREE_VERSION, total, self.piece_size, len(entries), len(name)
        )
        parts = [head, name]
        for e in entries:
            path = e.path.encode("utf-8")
            parts.append(_ENTRY.pack(e.kind, e.size, e.sha1, len(path)))
            parts.append(path)
        prefix = b"".join(parts)
        buffer = hashes.buffer
        if not (
            isinstance(buffer, bytes)
            and hashes.start == len(prefix)
            and len(buffer) == size
            and buffer.startswith(prefix)
        ):
            buffer = prefix + hashes.joined()
            hashes = PieceHashes(buffer, len(prefix), len(hashes))
        object.__setattr__(self, "piece_hashes", hashes)

    @classmethod
    def _decode(cls, data: bytes) -> TreeMetainfo:
        if len(data) > MAX_METAINFO_SIZE:
            raise _bad("TREE-1", f"metainfo is {len(data)} bytes, max {MAX_METAINFO_SIZE}")
        if len(data) < TREE_FIXED_SIZE:
            raise _bad("TREE-1", f"tree metainfo is truncated ({len(data)} bytes)")
        magic, version, total, piece_size, count, name_len = _HEADER.unpack_from(data)
        if magic != TREE_METAINFO_MAGIC:
            raise _bad("TREE-1", f"bad tree metainfo magic {magic!r}")
        if version != TREE_VERSION:
            raise _bad("TREE-1", f"unsupported tree metainfo version {version}")
        check_geometry(total, piece_size, ErrorCode.BAD_METAINFO, "TREE-2")
        if count > MAX_TREE_ENTRIES:
            raise _bad("TREE-2", f"{count} entries, max {MAX_TREE_ENTRIES}")
        pieces = piece_count(total, piece_size)
        at = TREE_FIXED_SIZE + name_len
        least = at + count * TREE_ENTRY_FIXED_SIZE + PIECE_HASH_LENGTH * pieces
        if len(data) < least:
            raise _bad("TREE-1", f"tree metainfo is {len(data)} bytes, its layout needs {least}")
        name = _text(data, TREE_FIXED_SIZE, at, "root name")
        entries = []
        for _ in range(count):
            if at + TREE_ENTRY_FIXED_SIZE > len(data):
                raise _bad("TREE-1", "entries run past the end of the metainfo")
            kind, size, sha1, path_len = _ENTRY.unpack_from(data, at)
            at += TREE_ENTRY_FIXED_SIZE
            if kind not in (EntryKind.FILE, EntryKind.DIRECTORY):
                raise _bad("TREE-2", f"entry kind {kind} is neither 0 nor 1")
            if at + path_len > len(data):
                raise _bad("TREE-1", "an entry's path runs past the end of the metainfo")
            path = _text(data, at, at + path_len, "path")
            at += path_len
            entries.append(TreeEntry(path, size, sha1, EntryKind(kind)))
        if len(data) != at + PIECE_HASH_LENGTH * pieces:
            raise _bad(
                "TREE-1",
                f"tree metainfo is {len(data)} bytes, layout needs {at + 32 * pieces}",
            )
        hashes = PieceHashes(data, at, pieces)
        size = tree_metainfo_size(name, entries, pieces)
        return cls(name, total, piece_size, _tree_tag(size), hashes, tuple(entries))

    @cached_property
    def summary(self) -> ShareSummary:
        """The tree summary [TREE-8]: root name + '/', total size, the tree tag."""
        return ShareSummary(self.name + "/", self.file_size, self.piece_size, self.file_sha1)

    @cached_property
    def starts(self) -> tuple[int, ...]:
        """Offset of each entry's first byte in the concatenation [TREE-6]."""
        starts, at = [], 0
        for entry in self.entries:
            starts.append(at)
            at += entry.size
        return tuple(starts)

    def corrupt_files(self, digests: Sequence[bytes]) -> list[int]:
        """Indexes of the files whose stored SHA-1 (`digests`, one per entry, in order; any
        value for a directory) is not the one listed [TREE-7]."""
        if len(digests) != len(self.entries):
            raise ValueError(f"{len(digests)} digests for {len(self.entries)} entries")
        return [
            i
            for i, (entry, digest) in enumerate(zip(self.entries, digests, strict=True))
            if not entry.is_dir and digest != entry.sha1
        ]

    def file_verdict(self, digests: Sequence[bytes]) -> bytes:
        """What to hand to `Swarm.file_hashed` for a tree: its tag when every file's SHA-1
        matches, which completes the download; nothing when one does not [TREE-7]."""
        return b"" if self.corrupt_files(digests) else self.file_sha1

    @cached_property
    def _data_entries(self) -> tuple[list[int], list[int]]:
        """(start, index) of the entries that hold bytes, for bisecting offsets."""
        found = [(s, i) for i, (s, e) in enumerate(zip(self.starts, self.entries, strict=True))]
        kept = [(s, i) for s, i in found if self.entries[i].size]
        return [s for s, _ in kept], [i for _, i in kept]

    def spans(self, offset: int, length: int) -> Iterator[Span]:
        """Where the bytes [offset, offset+length) of the concatenation live [TREE-6]."""
        if offset < 0 or length < 0 or offset + length > self.file_size:
            raise ValueError(f"{length} bytes at {offset} outside a tree of {self.file_size}")
        starts, indexes = self._data_entries
        slot = bisect.bisect_right(starts, offset) - 1
        while length > 0:
            index = indexes[slot]
            inner = offset - starts[slot]
            take = min(length, self.entries[index].size - inner)
            yield Span(index, inner, take)
            offset += take
            length -= take
            slot += 1


def _text(data: bytes, start: int, end: int, what: str) -> str:
    try:
        return data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        requirement = "TREE-2" if what == "root name" else "TREE-3"
        raise _bad(requirement, f"{what} is not valid UTF-8") from None
