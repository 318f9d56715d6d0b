"""The metainfo on the wire (spec 8.6): serving it in chunks, and fetching it from peers.

A node that has the metainfo answers chunk requests from its encoding. A node that knows only
the share ID (and, from a handshake, the summary) fetches the chunks, spread over its peers by
the swarm, and keeps each chunk's source: the assembled bytes are trusted only if their SHA-256
is the share ID [META-14], and if not, every source is suspect.
"""

from __future__ import annotations

import hashlib

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
        self._chunks: dict[int, bytes] = {}
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
        """Keep a chunk (the first copy wins); True once all `total` chunks are here."""
        if self.blob is not None or chunk in self._chunks:
            return False
        self._chunks[chunk] = data
        self._sources.add(source)
        return len(self._chunks) == total

    def assemble(self, share_id: bytes | None) -> tuple[Metainfo | None, set[bytes]]:
        """The metainfo the chunks make, if its SHA-256 is the share ID and it parses
        [META-14]; None otherwise. Also returns who sent chunks (suspects if None)."""
        blob = b"".join(self._chunks[i] for i in range(len(self._chunks)))
        self._chunks.clear()
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
