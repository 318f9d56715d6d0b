"""Share metainfo: the canonical encoding whose SHA-256 is the share ID, plus geometry helpers.

Canonical layout (big-endian):
``<4:"P2PM"><1:version=1><8:file_size><4:piece_size><20:file_sha1><2:name_len><name><32*n hashes>``
Every byte is determined by the share, so two implementations always agree on the share ID.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import overload

from .constants import (
    DEFAULT_PIECE_SIZE,
    FILE_SHA1_LENGTH,
    MAX_FILE_SIZE,
    MAX_METAINFO_SIZE,
    MAX_NAME_LENGTH,
    MAX_PIECE_SIZE,
    MAX_PIECES,
    METAINFO_CHUNK_SIZE,
    METAINFO_FIXED_SIZE,
    METAINFO_MAGIC,
    METAINFO_VERSION,
    MIN_METAINFO_SIZE,
    MIN_PIECE_SIZE,
    PIECE_HASH_LENGTH,
    TREE_METAINFO_MAGIC,
)
from .errors import ErrorCode, LocalProtocolError

__all__ = [
    "Metainfo",
    "PieceHashes",
    "ShareSummary",
    "check_geometry",
    "choose_piece_size",
    "chunk_bounds",
    "chunk_count",
    "chunk_length",
    "is_valid_piece_size",
    "piece_count",
    "validate_name",
]

_HEADER = struct.Struct(">4sBQI20sH")
assert _HEADER.size == METAINFO_FIXED_SIZE

# C0 and C1 controls, DEL, and U+FEFF (a byte order mark) [NAME-1 (b)]
_FORBIDDEN_CHARS = (
    frozenset('/\\:*?"<>|\x7f\ufeff')
    | frozenset(chr(c) for c in range(0x20))
    | frozenset(chr(c) for c in range(0x80, 0xA0))
)
# Windows treats the ISO 8859-1 superscript digits as digits in COM# and LPT# [NAME-1 (f)]
_DEVICE_DIGITS = "123456789\u00b9\u00b2\u00b3"
_RESERVED_STEMS = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{d}" for d in _DEVICE_DIGITS]
    + [f"LPT{d}" for d in _DEVICE_DIGITS]
)


def _bad_name(reason: str) -> LocalProtocolError:
    return LocalProtocolError(ErrorCode.BAD_METAINFO, "NAME-1", reason)


def validate_name(name: str) -> str:
    """Return `name` if it is a SAFE NAME (usable as a file name on every OS), else raise.

    Raises LocalProtocolError(BAD_METAINFO); callers parsing peer data re-raise it as remote.
    """
    if not isinstance(name, str):
        raise _bad_name(f"name must be str, not {type(name).__name__}")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad_name("name is not encodable as UTF-8") from None
    if not 1 <= len(encoded) <= MAX_NAME_LENGTH:
        raise _bad_name(f"name must be 1..{MAX_NAME_LENGTH} bytes of UTF-8, got {len(encoded)}")
    bad = _FORBIDDEN_CHARS.intersection(name)
    if bad:
        raise _bad_name(f"name contains forbidden character(s) {sorted(bad)!r}")
    if name in (".", ".."):
        raise _bad_name(f"name must not be {name!r}")
    if name[0] == " " or name[-1] == " ":
        raise _bad_name("name must not start or end with a space")
    if name[-1] == ".":
        raise _bad_name("name must not end with '.'")
    # Windows ignores spaces at the end of the stem: "NUL .txt" is the device NUL.
    if name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED_STEMS:
        raise _bad_name(f"name {name!r} is reserved on Windows")
    return name


def is_valid_piece_size(piece_size: int) -> bool:
    """A piece size is a power of two between MIN_PIECE_SIZE and MAX_PIECE_SIZE."""
    return MIN_PIECE_SIZE <= piece_size <= MAX_PIECE_SIZE and piece_size & (piece_size - 1) == 0


def piece_count(file_size: int, piece_size: int) -> int:
    """ceil(file_size / piece_size); 0 for an empty file."""
    return -(-file_size // piece_size)


def choose_piece_size(file_size: int, requested: int = DEFAULT_PIECE_SIZE) -> int:
    """Start at `requested` and double until the file has at most MAX_PIECES pieces."""
    if not 0 <= file_size <= MAX_FILE_SIZE:
        raise ValueError(f"file size must be 0..{MAX_FILE_SIZE}, got {file_size}")
    if not is_valid_piece_size(requested):
        raise ValueError(
            f"piece size must be a power of two in {MIN_PIECE_SIZE}..{MAX_PIECE_SIZE}, "
            f"got {requested}"
        )
    size = requested
    while piece_count(file_size, size) > MAX_PIECES:
        size *= 2
    return size


def check_geometry(file_size: int, piece_size: int, code: ErrorCode, requirement: str) -> None:
    """Raise LocalProtocolError(code) unless file_size/piece_size describe a legal share."""
    if not is_valid_piece_size(piece_size):
        raise LocalProtocolError(
            code,
            requirement,
            f"piece size {piece_size} is not a power of two in {MIN_PIECE_SIZE}..{MAX_PIECE_SIZE}",
        )
    if not 0 <= file_size <= MAX_FILE_SIZE:
        raise LocalProtocolError(
            code, requirement, f"file size {file_size} exceeds {MAX_FILE_SIZE}"
        )
    if piece_count(file_size, piece_size) > MAX_PIECES:
        raise LocalProtocolError(
            code, requirement, f"{file_size} bytes in {piece_size}-byte pieces is over {MAX_PIECES}"
        )


@dataclass(frozen=True, slots=True)
class ShareSummary:
    """What a handshake says about the share: enough for piece geometry, not for verification."""

    name: str
    file_size: int
    piece_size: int
    file_sha1: bytes

    @property
    def piece_count(self) -> int:
        return piece_count(self.file_size, self.piece_size)

    def piece_length(self, index: int) -> int:
        """Length of piece `index` (the last one may be shorter)."""
        if not 0 <= index < self.piece_count:
            raise IndexError(f"piece index {index} out of range 0..{self.piece_count - 1}")
        return min(self.piece_size, self.file_size - index * self.piece_size)

    @property
    def is_tree(self) -> bool:
        """A tree summary's name is the root name followed by '/' [TREE-8]."""
        return self.name.endswith("/")

    @property
    def metainfo_size(self) -> int:
        """Size of the canonical metainfo encoding of a share with this summary.

        A tree's is in the first 4 bytes of its tree tag [TREE-8]; a file's follows from it.
        """
        if self.is_tree:
            return int.from_bytes(self.file_sha1[:4], "big")
        name_size = len(self.name.encode("utf-8", "replace"))
        return METAINFO_FIXED_SIZE + name_size + PIECE_HASH_LENGTH * self.piece_count

    def piece_offset(self, index: int) -> int:
        """Byte offset of piece `index` in the file."""
        if not 0 <= index < self.piece_count:
            raise IndexError(f"piece index {index} out of range 0..{self.piece_count - 1}")
        return index * self.piece_size


def _bad_meta(requirement: str, reason: str) -> LocalProtocolError:
    return LocalProtocolError(ErrorCode.BAD_METAINFO, requirement, reason)


class PieceHashes(Sequence[bytes]):
    """The piece hashes: 32-byte digests side by side in one buffer (a sequence of bytes).

    One bytes object per digest costs 73 bytes of memory for 32 of hash: a share of 131 072
    pieces would keep 13 MiB instead of 4, and a node's memory would grow with the file. The
    buffer is the tail of the canonical encoding, so the metainfo is held exactly once.
    """

    __slots__ = ("_buffer", "_count", "_start")

    def __init__(self, buffer: bytes | bytearray, start: int, count: int) -> None:
        if start < 0 or count < 0 or start + count * PIECE_HASH_LENGTH > len(buffer):
            raise ValueError("piece hashes run past the end of the buffer")
        self._buffer = buffer
        self._start = start
        self._count = count

    @classmethod
    def of(cls, digests: Iterable[bytes]) -> PieceHashes:
        """From separate digests (each checked to be PIECE_HASH_LENGTH bytes)."""
        items = list(digests) if not isinstance(digests, Sequence) else digests
        for digest in items:
            if not isinstance(digest, bytes) or len(digest) != PIECE_HASH_LENGTH:
                raise _bad_meta("META-1", f"piece hashes must be {PIECE_HASH_LENGTH} bytes")
        return cls(b"".join(items), 0, len(items))

    @property
    def buffer(self) -> bytes | bytearray:
        """The buffer the digests live in (the canonical encoding, for a Metainfo's)."""
        return self._buffer

    @property
    def start(self) -> int:
        return self._start

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[bytes, ...]: ...
    def __getitem__(self, index: int | slice) -> bytes | tuple[bytes, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(self._count)))
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(f"piece hash index {index} out of range")
        at = self._start + index * PIECE_HASH_LENGTH
        return bytes(self._buffer[at : at + PIECE_HASH_LENGTH])

    def __iter__(self) -> Iterator[bytes]:
        buffer, size = self._buffer, PIECE_HASH_LENGTH
        for at in range(self._start, self._start + self._count * size, size):
            yield bytes(buffer[at : at + size])

    def joined(self) -> bytes | bytearray:
        """All digests side by side, in piece order."""
        end = self._start + self._count * PIECE_HASH_LENGTH
        if self._start == 0 and end == len(self._buffer):
            return self._buffer
        return self._buffer[self._start : end]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PieceHashes):
            return self.joined() == other.joined()
        if isinstance(other, tuple | list):
            if len(other) != self._count:
                return False
            return all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(bytes(self.joined()))  # (a bytearray buffer is not hashable itself)

    def __repr__(self) -> str:
        return f"PieceHashes(<{self._count} digests>)"


@dataclass(frozen=True)
class Metainfo:
    """The full description of a share; its canonical encoding defines the share ID."""

    name: str
    file_size: int
    piece_size: int
    file_sha1: bytes
    piece_hashes: Sequence[bytes]
    """Any sequence of 32-byte digests may be given; it is kept as PieceHashes."""

    def __post_init__(self) -> None:
        validate_name(self.name)
        check_geometry(self.file_size, self.piece_size, ErrorCode.BAD_METAINFO, "META-2")
        if not isinstance(self.file_sha1, bytes) or len(self.file_sha1) != FILE_SHA1_LENGTH:
            raise _bad_meta("META-1", f"file_sha1 must be {FILE_SHA1_LENGTH} bytes")
        hashes = self.piece_hashes
        if not isinstance(hashes, PieceHashes):
            hashes = PieceHashes.of(hashes)
        expected = piece_count(self.file_size, self.piece_size)
        if len(hashes) != expected:
            raise _bad_meta("META-1", f"expected {expected} piece hashes, got {len(hashes)}")
        # The canonical encoding, built once; the hashes then live inside it (held once).
        name = self.name.encode("utf-8")
        head = _HEADER.pack(
            METAINFO_MAGIC,
            METAINFO_VERSION,
            self.file_size,
            self.piece_size,
            self.file_sha1,
            len(name),
        )
        prefix = head + name
        buffer = hashes.buffer
        if not (
            isinstance(buffer, bytes)
            and hashes.start == len(prefix)
            and len(buffer) == len(prefix) + PIECE_HASH_LENGTH * len(hashes)
            and buffer.startswith(prefix)
        ):
            buffer = prefix + hashes.joined()
            hashes = PieceHashes(buffer, len(prefix), len(hashes))
        object.__setattr__(self, "piece_hashes", hashes)

    def encode(self) -> bytes:
        """The canonical encoding (the bytes that are hashed and sent in chunks).

        Built once, with the hashes inside it: a share of 131 072 pieces has 4 MiB of it,
        served to peers and saved in the resume state for as long as the node runs.
        """
        hashes = self.piece_hashes
        assert isinstance(hashes, PieceHashes)  # (made so by __post_init__)
        buffer = hashes.buffer
        assert isinstance(buffer, bytes)  # (likewise)
        return buffer

    @classmethod
    def decode(cls, data: bytes) -> Metainfo:
        """Parse the canonical encoding; raise RemoteProtocolError(BAD_METAINFO) if it is not.

        Either kind: a single file's (Section 8.1) or a tree's (magic "P2PT", a TreeMetainfo).
        """
        data = bytes(data)
        try:
            if data[:4] == TREE_METAINFO_MAGIC:
                from .tree import TreeMetainfo  # (tree.py builds on this module)

                return TreeMetainfo._decode(data)
            return cls._decode(data)
        except LocalProtocolError as err:
            raise err.as_remote() from None

    @classmethod
    def _decode(cls, data: bytes) -> Metainfo:
        if len(data) > MAX_METAINFO_SIZE:
            raise _bad_meta("META-1", f"metainfo is {len(data)} bytes, max {MAX_METAINFO_SIZE}")
        if len(data) < MIN_METAINFO_SIZE:
            raise _bad_meta("META-1", f"metainfo is truncated ({len(data)} bytes)")
        magic, version, file_size, piece_size, file_sha1, name_len = _HEADER.unpack_from(data)
        if magic != METAINFO_MAGIC:
            raise _bad_meta("META-1", f"bad metainfo magic {magic!r}")
        if version != METAINFO_VERSION:
            raise _bad_meta("META-1", f"unsupported metainfo version {version}")
        check_geometry(file_size, piece_size, ErrorCode.BAD_METAINFO, "META-2")
        name_end = METAINFO_FIXED_SIZE + name_len
        count = piece_count(file_size, piece_size)
        if len(data) != name_end + PIECE_HASH_LENGTH * count:
            raise _bad_meta(
                "META-1", f"metainfo is {len(data)} bytes, layout needs {name_end + 32 * count}"
            )
        try:
            name = data[METAINFO_FIXED_SIZE:name_end].decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_name("name is not valid UTF-8") from None
        # the canonical encoding is the one just parsed: the hashes stay inside it
        hashes = PieceHashes(data, name_end, count)
        return cls(name, file_size, piece_size, file_sha1, hashes)

    @cached_property
    def share_id(self) -> bytes:
        """SHA-256 of the canonical encoding: the share's identity."""
        return hashlib.sha256(self.encode()).digest()

    @cached_property
    def summary(self) -> ShareSummary:
        # cached: the node asks for piece offsets on every block it stores or serves
        return ShareSummary(self.name, self.file_size, self.piece_size, self.file_sha1)

    @property
    def piece_count(self) -> int:
        return len(self.piece_hashes)

    def piece_length(self, index: int) -> int:
        """Length of piece `index` (the last one may be shorter)."""
        if not 0 <= index < len(self.piece_hashes):
            raise IndexError(f"piece index {index} out of range 0..{self.piece_count - 1}")
        return min(self.piece_size, self.file_size - index * self.piece_size)

    def piece_offset(self, index: int) -> int:
        """Byte offset of piece `index` in the file."""
        if not 0 <= index < len(self.piece_hashes):
            raise IndexError(f"piece index {index} out of range 0..{self.piece_count - 1}")
        return index * self.piece_size


def chunk_count(total_size: int) -> int:
    """Number of METAINFO_CHUNK_SIZE chunks a metainfo of `total_size` bytes is sent in."""
    return -(-total_size // METAINFO_CHUNK_SIZE)


def chunk_bounds(total_size: int, chunk: int) -> tuple[int, int]:
    """[start, end) byte range of metainfo chunk `chunk`."""
    if not 0 <= chunk < chunk_count(total_size):
        raise IndexError(f"chunk {chunk} out of range for {total_size} bytes")
    start = chunk * METAINFO_CHUNK_SIZE
    return start, min(start + METAINFO_CHUNK_SIZE, total_size)


def chunk_length(total_size: int, chunk: int) -> int:
    """Length of metainfo chunk `chunk` (the last one may be shorter)."""
    start, end = chunk_bounds(total_size, chunk)
    return end - start
