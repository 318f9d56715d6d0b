"""The metainfo on the wire (spec 8.6): serving it in chunks, and fetching it from peers.

A node that has the metainfo answers chunk requests from its encoding. A node that knows only
the share ID (and, from a handshake, the summary) fetches the chunks, spread over its peers by
the swarm, and keeps each chunk's source: the assembled bytes are trusted only if their SHA-256
is the share ID [META-14], and if not, every source is suspect.

Chunks are written into one buffer as they arrive, and that buffer becomes the encoding: the
metainfo of a big share (4 MiB at 131 072 pieces) never exists as chunks and a joined copy at
once, and leaves no chunk-sized holes in the heap behind it.
"""

from __future__ import annotations

import hashlib
import io

from .constants import METAINFO_CHUNK_SIZE
from .errors import ErrorCode, RemoteProtocolError
from .events import MetainfoData, MetainfoReject
from .metainfo import Metainfo, ShareSummary

__all__ = ["MetainfoFetch", "chunk_total"]


def chunk_total(summary: ShareSummary) -> int:
    """How many chunks the metainfo of `summary` takes."""
    return -(-summary.metainfo_size // METAINFO_CHUNK_SIZE)


class MetainfoFetch:
    """Chunks still to ask for, chunks received and who sent them; the encoding once known."""

    def __init__(self, metainfo: Metainfo | None) -> None:
        self.blob: bytes | None = metainfo.encode() if metainfo is not None else None
        self.missing: list[int] = []  # chunks nobody is fetching (popped from the end)
        self.problem: RemoteProtocolError | None = None  # why the last assembly was refused
        self._buffer: io.BytesIO | None = None  # the chunks so far, each at its offset
        self._received: set[int] = set()
        self._size = 0  # the encoding's length: the end of the last chunk, once it is here
        self._sources: set[bytes] = set()

    # --- serving ------------------------------------------------------------------------------
    def reply(self, chunk: int) -> MetainfoData | MetainfoReject:
        """Exactly one answer per request [META-11]: the chunk, or a reject."""
        blob = self.blob
        start = chunk * METAINFO_CHUNK_SIZE
        if blob is None or start >= len(blob):
            return MetainfoReject(chunk=chunk)
        data = blob[start : start + METAINFO_CHUNK_SIZE]
        return MetainfoData(chunk=chunk, total_size=len(blob), data=data)

    # --- fetching -----------------------------------------------------------------------------
    def start(self, summary: ShareSummary) -> None:
        """Ask for every chunk of the metainfo `summary` describes (chunk 0 first)."""
        self.missing = list(range(chunk_total(summary) - 1, -1, -1))

    def stop(self) -> None:
        self.missing = []

    def give_back(self, chunk: int) -> None:
        """A chunk that was asked for will not come (reject, timeout, close): ask elsewhere."""
        self.missing.append(chunk)

    def received(self, chunk: int, data: bytes, source: bytes, total: int) -> bool:
        """Keep chunk `chunk` of `total` (the first copy wins); True once all are here.

        The connection has checked the chunk's index and length against the handshake's
        summary [META-10]; a chunk that still does not fit is dropped here.
        """
        start = chunk * METAINFO_CHUNK_SIZE
        if self.blob is not None or chunk in self._received or not 0 <= chunk < total:
            return False
        if len(data) > METAINFO_CHUNK_SIZE or (
            chunk < total - 1 and len(data) != METAINFO_CHUNK_SIZE
        ):
            return False
        if self._buffer is None:
            self._buffer = _zeroed(total * METAINFO_CHUNK_SIZE)
        self._buffer.seek(start)
        self._buffer.write(data)
        if chunk == total - 1:
            self._size = start + len(data)
        self._received.add(chunk)
        self._sources.add(source)
        return len(self._received) == total

    def assemble(self, share_id: bytes | None) -> tuple[Metainfo | None, set[bytes]]:
        """The metainfo the chunks make, if its SHA-256 is the share ID and it parses
        [META-14]; None otherwise. Also returns who sent chunks (suspects if None)."""
        buffer, self._buffer = self._buffer, None
        blob = b""
        if buffer is not None:
            buffer.truncate(self._size)
            blob = buffer.getvalue()  # (the buffer's own bytes, no copy: see _zeroed)
            buffer.close()
        self._received.clear()
        sources, self._sources = self._sources, set()
        meta: Metainfo | None = None
        self.problem = RemoteProtocolError(
            ErrorCode.BAD_METAINFO, "META-14", "metainfo does not match the share ID"
        )
        if hashlib.sha256(blob).digest() == share_id:
            try:
                meta = Metainfo.decode(blob)
            except RemoteProtocolError as err:
                # hash matched but does not parse: the share ID itself is bad, and the reason
                # (a path with '..', a name collision [TREE-3, TREE-5]) is the one to report
                self.problem = err
        if meta is not None:
            self.blob = blob
            self.missing = []
        return meta, sources


def _zeroed(size: int) -> io.BytesIO:
    """A writable buffer of `size` zero bytes whose getvalue() is not a second copy.

    io.BytesIO keeps its contents in one bytes object: given one nothing else refers to, it
    writes into it in place, and getvalue() hands that same object over (CPython; elsewhere it
    is one copy, at assembly only). bytes(size) is calloc'd: pages no chunk reached cost no
    memory.
    """
    return io.BytesIO(bytes(size))
