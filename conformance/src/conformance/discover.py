"""Learn the share a target serves from nothing but its address.

The acceptor sends its handshake first, so connecting is enough to learn share ID and geometry;
the metainfo (piece hashes) is then fetched in chunks and checked against the share ID, which is
what lets later cases verify piece data.
"""

from __future__ import annotations

import hashlib
import random

from p2pshare_core import constants as C
from p2pshare_core.bitfield import Bitfield
from p2pshare_core.errors import RemoteProtocolError
from p2pshare_core.events import Handshake
from p2pshare_core.metainfo import Metainfo, chunk_count

from conformance import craft
from conformance.context import Options, TargetInfo
from conformance.expect import ExpectMessage
from conformance.outcomes import CaseStop
from conformance.wire import Trace, Wire


class TargetUnusable(Exception):
    """The target cannot be tested at all (no connection, no handshake, wrong share)."""


def fetch_metainfo(wire: Wire, share_id: bytes) -> tuple[Metainfo | None, str | None]:
    """Fetch every metainfo chunk on an established connection; (metainfo, problem)."""
    chunks: list[bytes] = []
    total: int | None = None
    chunk = 0
    while total is None or chunk < chunk_count(total):
        wire.write(craft.metainfo_request(chunk))
        reply = wire.expect(
            ExpectMessage(("metainfo_data", "metainfo_reject"), (("chunk", chunk),))
        )
        assert reply is not None
        if reply.name == "metainfo_reject":
            return None, f"target rejected metainfo chunk {chunk}"
        size = int(reply.fields["total_size"])
        if total is None:
            if size > C.MAX_METAINFO_SIZE:
                return None, f"metainfo total_size {size} over the limit"
            total = size
        elif size != total:
            return None, f"total_size changed from {total} to {size} at chunk {chunk}"
        data = getattr(reply.event, "data", b"")
        chunks.append(data)
        chunk += 1
        if chunk > C.MAX_METAINFO_SIZE // C.METAINFO_CHUNK_SIZE + 1:
            return None, "too many metainfo chunks"
    blob = b"".join(chunks)
    if hashlib.sha256(blob).digest() != share_id:
        return None, "SHA-256 of the metainfo does not equal the share ID"
    try:
        return Metainfo.decode(blob), None
    except RemoteProtocolError as exc:
        return None, f"metainfo does not decode: {exc}"


def discover(opts: Options, trace: Trace | None = None) -> TargetInfo:
    """Connect once, complete the handshake, read the bitfield and fetch the metainfo."""
    trace = trace or Trace(verbose=opts.verbose)
    stage = "the target's handshake [HS-1, HS-11]"
    try:
        wire = Wire(opts.host, opts.port, trace=trace, number=0, timeout=opts.timeout)
        hs = wire.expect(ExpectMessage(("handshake",), skip=("keepalive",)))
        assert hs is not None and isinstance(hs.event, Handshake)
        theirs = hs.event
        if opts.share is not None and theirs.share_id != opts.share:
            raise TargetUnusable(
                f"target serves share {theirs.share_id.hex()}, not {opts.share.hex()}"
            )
        count = theirs.summary.piece_count
        peer_id = random.Random(opts.seed).randbytes(20)
        wire.write(
            craft.handshake(
                peer_id=peer_id,
                listen_port=0,
                share_id=theirs.share_id,
                file_size=theirs.file_size,
                piece_size=theirs.piece_size,
                file_sha1=theirs.file_sha1,
                name=theirs.name,
            )
            + craft.bitfield(craft.empty_bitfield(count))
        )
        stage = "the target's bitfield right after its handshake [BF-1]"
        bf = wire.expect(ExpectMessage(("bitfield",), skip=("keepalive",)))
        assert bf is not None
        try:
            bits = Bitfield.from_bytes(count, bytes.fromhex(str(bf.fields["bits"])))
        except ValueError as exc:
            raise TargetUnusable(f"target's bitfield is invalid [BF-2, BF-3]: {exc}") from exc
        try:
            metainfo, problem = fetch_metainfo(wire, theirs.share_id)
        except CaseStop as exc:
            metainfo, problem = None, f"{exc.message} (expected {exc.expected}, got {exc.actual})"
        wire.close()
    except CaseStop as exc:
        raise TargetUnusable(
            f"{exc.message} while reading {stage}; expected {exc.expected or '-'}, "
            f"got {exc.actual or '-'}"
        ) from exc
    return TargetInfo(handshake=theirs, bitfield=bits, metainfo=metainfo, metainfo_error=problem)
