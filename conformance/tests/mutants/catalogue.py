"""The mutants: broken reference nodes, each breaking one MUST, and benign variations.

A *real* mutant names the requirement(s) it breaks; the suite must fail against it, and at
least one failing case must cite one of those IDs. A *benign* variation (breaks = ()) changes
only what the spec leaves open; the suite must pass against it. `quick` ones run in CI with
`--select` on their requirements; `make mutants` runs every one against the whole suite.

Patches are applied inside the launched node (launch.py) through patching.py: rewriting the
frames the core Connection reads (a target that does not check something looks, on the wire,
exactly like one whose check was skipped) or writes, or replacing one check or handler.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import patching as P


@dataclass(frozen=True)
class Mutant:
    name: str
    breaks: tuple[str, ...]  # requirement IDs; () = benign variation
    apply: Callable[[], None] = lambda: None
    doc: str = ""
    quick: bool = False
    faults: tuple[str, ...] = ()  # the node's own test faults (--fault)
    tunables: dict[str, Any] = field(default_factory=dict)  # SwarmConfig overrides
    suite_args: tuple[str, ...] = ()
    mode: str = "share"  # share: the suite tests it; get: it downloads from the serve swarm
    scenario: str = "swarm"  # the serve scenario a "get" mutant downloads from
    node_args: tuple[str, ...] = ()  # more command-line options of the node

    @property
    def section(self) -> str:
        return self.breaks[0].split("-")[0] if self.breaks else "benign"


MUTANTS: list[Mutant] = []


def mutant(
    name: str, breaks: tuple[str, ...], **kw: Any
) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(func: Callable[[], None]) -> Callable[[], None]:
        MUTANTS.append(Mutant(name, breaks, func, (func.__doc__ or "").strip(), **kw))
        return func

    return register


def plain(name: str, breaks: tuple[str, ...], doc: str, **kw: Any) -> None:
    MUTANTS.append(Mutant(name, breaks, lambda: None, doc, **kw))


# --- helpers over the core ------------------------------------------------------------------


def _conn() -> Any:
    from p2pshare_core import connection

    return connection


def _swarm() -> Any:
    from p2pshare_core import swarm

    return swarm


def _skip_check(method: str, requirement: str | None = None) -> None:
    """Make Connection.<method> a no-op for received frames (optionally for one requirement)."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def patched(self: Any, *args: Any) -> Any:
            incoming = args[-2] if requirement is not None else args[-1]
            if incoming and (requirement is None or args[-1] == requirement):
                return None
            return orig(self, *args)

        return patched

    P.wrap(_conn().Connection, method, make)


def _drop_inbound(pred: Callable[[Any, bytes], bool]) -> None:
    P.inbound(lambda conn, raw: b"" if pred(conn, raw) else raw)


def _rewrite_outbound_frames(rewrite: Callable[[Any, bytes], bytes]) -> None:
    P.outbound(lambda conn, event, data: b"".join(rewrite(conn, f) for f in P.frames_of(data)))


_FIXED = {0x02: 4, 0x03: 12, 0x05: 12, 0x06: 12, 0x07: 0, 0x08: 0, 0x09: 0, 0x0A: 0, 0x0C: 4}

# --- FRAME ----------------------------------------------------------------------------------


@mutant("frame3-no-size-limit", ("FRAME-3", "SEC-2"))
def frame3() -> None:
    """Lengths over MAX_FRAME_LENGTH are buffered like any frame (no FRAME_TOO_LARGE)."""
    _conn().MAX_FRAME_LENGTH = 0xFFFF_FFFF
    P.C.MAX_FRAME_LENGTH = 0xFFFF_FFFF  # the frame filter must not stop at it either


@mutant("frame5-unknown-id-fails", ("FRAME-5",))
def frame5() -> None:
    """A frame with an unassigned id fails the connection (as MALFORMED)."""
    P.inbound(lambda conn, raw: P.frame(0x02, b"\0") if (P.msg_id(raw) or 0) > 0x0F else raw)


@mutant("frame7-trailing-bytes-ignored", ("FRAME-7",), quick=True)
def frame7() -> None:
    """Fixed-size messages with extra trailing bytes are read, the extra bytes ignored."""

    def trim(conn: Any, raw: bytes) -> bytes:
        size = _FIXED.get(P.msg_id(raw) or -1)
        if size is not None and len(raw) > 5 + size:
            return P.frame(raw[4], raw[5 : 5 + size])
        return raw

    P.inbound(trim)


@mutant("frame8-truncation-is-a-close", ("FRAME-8",))
def frame8() -> None:
    """End of stream inside a frame is taken as a normal close (no TRUNCATED)."""
    P.inbound(lambda conn, raw: raw, on_eof=lambda conn, leftover: b"")


@mutant("frame2-keepalive-fails", ("FRAME-2",))
def frame2() -> None:
    """A keepalive after the handshake fails the connection (as MALFORMED)."""

    def rewrite(conn: Any, raw: bytes) -> bytes:
        # tracked here: the frames of one read are filtered before the Connection sees any
        if P.msg_id(raw) == 0x00:
            conn.__dict__["_mutant_after_handshake"] = True
        if len(raw) == 4 and conn.__dict__.get("_mutant_after_handshake"):
            return P.frame(0x02, b"\0")
        return raw

    P.inbound(rewrite)


def _after_bitfield(extra: bytes) -> None:
    _rewrite_outbound_frames(lambda c, raw: raw + extra if P.msg_id(raw) == 0x01 else raw)


@mutant("frame4-sends-oversize-frame", ("FRAME-4",))
def frame4() -> None:
    """An (unknown-id) frame over MAX_FRAME_LENGTH follows the bitfield."""
    _after_bitfield(struct.pack(">IB", P.C.MAX_FRAME_LENGTH + 1, 0x42) + bytes(64))


@mutant("frame6-sends-undefined-id", ("FRAME-6",))
def frame6() -> None:
    """A frame with the unassigned id 0x42 follows the bitfield."""
    _after_bitfield(P.frame(0x42, b"hello"))


@mutant("frame1-bad-length-prefix", ("FRAME-1", "BF-2"))
def frame1() -> None:
    """The bitfield's length prefix counts one byte too many. On the wire this is a bitfield of
    the wrong size (BF-2) followed by a torn frame: no receiver can tell the two apart."""
    _rewrite_outbound_frames(
        lambda c, raw: struct.pack(">I", len(raw) - 3) + raw[4:] if P.msg_id(raw) == 0x01 else raw
    )


@mutant("term1-little-endian-port", ("TERM-1",))
def term1() -> None:
    """The handshake's listen_port is written little-endian."""

    def edit(b: bytearray) -> None:
        b[5 + 26], b[5 + 27] = b[5 + 27], b[5 + 26]

    _handshake_out(edit)


@mutant("term2-reason-not-utf8", ("TERM-2", "ERR-1"))
def term2() -> None:
    """Error reasons end in a byte that is not UTF-8."""
    _rewrite_outbound_frames(
        lambda c, raw: P.frame(0x0F, raw[5:] + b"\xff") if P.msg_id(raw) == 0x0F else raw
    )


@mutant("term4-smaller-frame-limit", ("TERM-4", "FRAME-3"))
def term4() -> None:
    """MAX_FRAME_LENGTH (a wire constant) lowered to 512 KiB."""
    _conn().MAX_FRAME_LENGTH = 1 << 19


# --- HS -------------------------------------------------------------------------------------


def _handshake_out(edit: Callable[[bytearray], None]) -> None:
    def rewrite(conn: Any, raw: bytes) -> bytes:
        if P.msg_id(raw) != 0x00:
            return raw
        out = bytearray(raw)
        edit(out)
        return bytes(out)

    _rewrite_outbound_frames(rewrite)


@mutant("hs1-keepalive-before-handshake", ("HS-1",))
def hs1() -> None:
    """The node sends a keepalive before its handshake."""
    _rewrite_outbound_frames(lambda c, raw: b"\0\0\0\0" + raw if P.msg_id(raw) == 0 else raw)


@mutant("hs2-magic-unchecked", ("HS-2",))
def hs2() -> None:
    """A handshake with a wrong magic is read as if the magic were right."""
    P.inbound(lambda c, raw: raw[:5] + b"P2PS" + raw[9:] if P.msg_id(raw) == 0 else raw)


@mutant("hs3-version-unchecked", ("HS-3",))
def hs3() -> None:
    """The version byte is not looked at before the layout (parsed as version 1)."""
    P.inbound(
        lambda c, raw: raw[:9] + b"\x01" + raw[10:] if P.msg_id(raw) == 0 and len(raw) > 9 else raw
    )


@mutant("hs4-size-lenient", ("HS-4",))
def hs4() -> None:
    """Bytes after the name are ignored instead of failing the handshake."""

    def trim(conn: Any, raw: bytes) -> bytes:
        if P.msg_id(raw) != 0 or len(raw) < 5 + 94:
            return raw
        (name_len,) = struct.unpack_from(">H", raw, 5 + 92)
        return P.frame(0, raw[5 : 5 + 94 + name_len])

    P.inbound(trim)


@mutant("hs5-flags-sent", ("HS-5",))
def hs5() -> None:
    """The node sets a capability flag it does not implement in its handshake (bit 5: bit 0
    is the one multi-piece requests take, which the reference may come to offer itself)."""

    def edit(b: bytearray) -> None:
        b[5 + 5] = 0x20

    _handshake_out(edit)


# --- EXT ------------------------------------------------------------------------------------


@mutant("ext1-unassigned-bit-offered", ("EXT-1",))
def ext1() -> None:
    """The handshake offers capability bit 6, which no extension is assigned."""

    def edit(b: bytearray) -> None:
        b[5 + 5] |= 0x40

    _handshake_out(edit)


@mutant("ext4-reserved-bit-offered", ("EXT-4",))
def ext4() -> None:
    """The handshake sets bit 7, reserved for "more capability bits follow"."""

    def edit(b: bytearray) -> None:
        b[5 + 5] |= 0x80

    _handshake_out(edit)


@mutant("ext3-extension-without-agreement", ("EXT-3",))
def ext3() -> None:
    """An extension counts as in force on every connection where the node offered it, whether
    or not the peer did: span frames from a version-1 peer are acted on, not skipped."""
    from p2pshare_core.capabilities import Capability

    _conn().in_force = lambda ours, theirs: Capability(ours)


@mutant("ext2-unknown-bits-refused", ("EXT-2",))
def ext2() -> None:
    """A handshake offering capability bits the node does not know is refused (as a handshake
    with a bad magic: BAD_HANDSHAKE)."""
    from p2pshare_core.capabilities import IMPLEMENTED

    def rewrite(conn: Any, raw: bytes) -> bytes:
        if P.msg_id(raw) == 0 and len(raw) > 10 and raw[10] & ~int(IMPLEMENTED):
            return raw[:5] + b"XXXX" + raw[9:]
        return raw

    P.inbound(rewrite)


@mutant("hs6-peer-id-per-connection", ("HS-6",))
def hs6() -> None:
    """A fresh peer_id on every connection."""

    def edit(b: bytearray) -> None:
        b[5 + 6 : 5 + 26] = os.urandom(20)

    _handshake_out(edit)


@mutant("hs8-wrong-listen-port", ("HS-8",))
def hs8() -> None:
    """The handshake's listen_port is off by one."""

    def edit(b: bytearray) -> None:
        (port,) = struct.unpack_from(">H", b, 5 + 26)
        struct.pack_into(">H", b, 5 + 26, (port + 1) & 0xFFFF)

    _handshake_out(edit)


@mutant("hs9-geometry-unchecked", ("HS-9",), quick=True)
def hs9() -> None:
    """Impossible geometry is not refused by itself (only as a summary mismatch)."""
    _conn().check_geometry = lambda *a, **k: None


@mutant("hs10-name-unchecked", ("HS-10", "NAME-1"))
def hs10() -> None:
    """Unsafe names in a handshake are not refused by themselves."""
    _names_unchecked()


def _names_unchecked() -> None:
    """The SAFE NAME check of handshake summaries (core tree.check_summary) lets every
    name through."""
    from p2pshare_core import tree

    tree.validate_name = lambda name: name


def _own_share(conn: Any, raw: bytes, fields: str) -> bytes:
    if P.msg_id(raw) != 0 or len(raw) < 5 + 94 or conn._summary is None:
        return raw
    b = bytearray(raw)
    if "share" in fields and conn._share_id is not None:
        b[5 + 28 : 5 + 60] = conn._share_id
    if "summary" in fields:
        s = conn._summary
        struct.pack_into(">QI20s", b, 5 + 60, s.file_size, s.piece_size, s.file_sha1)
        name = s.name.encode()
        return P.frame(0, bytes(b[5 : 5 + 92]) + struct.pack(">H", len(name)) + name)
    return bytes(b)


@mutant("hs11-acceptor-waits", ("HS-11",))
def hs11() -> None:
    """The acceptor waits for the dialer's handshake before sending its own."""
    sm = _swarm()
    real = sm.Swarm._send_handshake

    def send_handshake(self: Any, peer: Any, now: float) -> None:
        if not peer.outbound and peer.conn.their_handshake is None:
            return  # the handshake handler sends it once the dialer's has arrived
        real(self, peer, now)

    sm.Swarm._send_handshake = send_handshake


@mutant("hs14-share-unchecked", ("HS-14",))
def hs14() -> None:
    """Handshakes for another share ID are accepted."""
    P.inbound(lambda conn, raw: _own_share(conn, raw, "share"))


@mutant("hs15-summary-unchecked", ("HS-15", "META-8"))
def hs15() -> None:
    """A summary differing from the share's is accepted."""
    P.inbound(lambda conn, raw: _own_share(conn, raw, "summary"))


# --- BF -------------------------------------------------------------------------------------


@mutant("bf1-no-bitfield", ("BF-1",))
def bf1() -> None:
    """The node never sends its bitfield."""
    _rewrite_outbound_frames(lambda c, raw: b"" if P.msg_id(raw) == 0x01 else raw)


@mutant("bf3-spare-bits-sent", ("BF-3",))
def bf3() -> None:
    """The node sets the spare bits of its bitfield."""
    _rewrite_outbound_frames(
        lambda c, raw: raw[:-1] + bytes([raw[-1] | 0x01]) if P.msg_id(raw) == 0x01 else raw
    )


@mutant("bf3-spare-bits-accepted", ("BF-3",))
def bf3_in() -> None:
    """Spare bits set in a received bitfield are not refused."""

    def patched(orig: Callable[..., Any]) -> Callable[..., Any]:
        def check(self: Any, event: Any, incoming: bool) -> None:
            size = (self._piece_count + 7) // 8
            if incoming and len(event.bits) == size:
                return
            orig(self, event, incoming)

        return check

    P.wrap(_conn().Connection, "_check_bitfield", patched)


@mutant("state3-unchoke-before-bitfield", ("STATE-3", "BF-1"))
def state3() -> None:
    """An unchoke is sent between the handshake and the bitfield."""
    _rewrite_outbound_frames(lambda c, raw: raw + P.frame(0x08) if P.msg_id(raw) == 0x00 else raw)


@mutant("bf2-size-lenient", ("BF-2",))
def bf2() -> None:
    """A bitfield of the wrong size is padded or cut to the right one."""

    def fix(conn: Any, raw: bytes) -> bytes:
        size = (conn._piece_count + 7) // 8
        if P.msg_id(raw) == 0x01 and conn._summary is not None and len(raw) - 5 != size:
            return P.frame(0x01, (raw[5:] + bytes(size))[:size])
        return raw

    P.inbound(fix)


@mutant("bf1-second-bitfield-ignored", ("BF-1", "STATE-2"))
def bf1_second() -> None:
    """A second bitfield is dropped instead of refused."""

    def second(conn: Any, raw: bytes) -> bool:
        # counted here: the frames of one read are filtered before the Connection sees any
        if P.msg_id(raw) != 0x01:
            return False
        seen = conn.__dict__.get("_mutant_bitfields", 0)
        conn.__dict__["_mutant_bitfields"] = seen + 1
        return seen >= 1

    _drop_inbound(second)


@mutant("state2-early-messages-dropped", ("STATE-2", "HS-1"))
def state2_early() -> None:
    """Messages other than the handshake before the handshake are dropped, not refused."""

    def early(conn: Any, raw: bytes) -> bool:
        mid = P.msg_id(raw)
        return _before_handshake(conn, raw) and mid is not None and 0 < mid <= 0x0F

    _drop_inbound(early)


def _before_handshake(conn: Any, raw: bytes) -> bool:
    """True until the peer's handshake has passed the filter (the Connection's own state lags:
    the frames of one read are filtered before it sees any)."""
    if P.msg_id(raw) == 0x00:
        conn.__dict__["_mutant_after_handshake"] = True
        return False
    return not conn.__dict__.get("_mutant_after_handshake", False)


# --- MSG ------------------------------------------------------------------------------------


@mutant("msg1-have-unchecked", ("MSG-1",))
def msg1() -> None:
    """A have for a piece index >= n is ignored instead of refused."""
    _skip_check("_check_index")


@mutant("msg3-request-range-unchecked", ("MSG-3",))
def msg3() -> None:
    """Requests, rejects and cancels are not range-checked."""
    _skip_check("_check_block", "MSG-3")


@mutant("msg3-range-against-file-end", ("MSG-3",), quick=True)
def msg3_file_end() -> None:
    """Blocks are range-checked against the end of the file, not of their piece."""

    def patched(orig: Callable[..., Any]) -> Callable[..., Any]:
        def check(
            self: Any, index: int, offset: int, length: int, incoming: bool, req: str
        ) -> None:
            in_file = index * self._piece_size + offset + length <= self._file_size
            lenient = index < self._piece_count and 0 < length <= P.C.MAX_BLOCK_LENGTH
            if incoming and req == "MSG-3" and lenient and in_file:
                return
            orig(self, index, offset, length, incoming, req)

        return check

    P.wrap(_conn().Connection, "_check_block", patched)


@mutant("msg9-piece-range-unchecked", ("MSG-9",))
def msg9() -> None:
    """Piece messages are not range-checked (only matched against requests)."""
    _skip_check("_check_block", "MSG-9")


@mutant("msg10-unsolicited-accepted", ("MSG-10",), quick=True)
def msg10() -> None:
    """Pieces and rejects answering no request are accepted."""

    def patched(orig: Callable[..., Any]) -> Callable[..., Any]:
        def answer(self: Any, asker: Any, triple: Any, incoming: bool) -> None:
            if incoming and triple not in asker.requests:
                return
            orig(self, asker, triple, incoming)

        return answer

    P.wrap(_conn().Connection, "_answer", patched)


plain(
    "bf5-empty-bitfield",
    ("BF-5", "MSG-7"),
    "A seeder announcing no piece (and serving them anyway).",
    faults=("no-have",),
)
plain(
    "msg4-ignores-requests", ("MSG-4",), "Requests get no reply at all.", faults=("ignore-request",)
)
plain(
    "msg11-corrupt-data",
    ("MSG-11",),
    "Served data has every byte flipped.",
    faults=("corrupt",),
    quick=True,
)


def _request_handler(make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    sm = _swarm()
    from p2pshare_core.events import Request

    sm.Swarm._handlers[Request] = make(sm.Swarm._handlers[Request])


@mutant("msg7-serves-while-choking", ("MSG-7",), tunables={"upload_slots": 0})
def msg7() -> None:
    """A node that never unchokes (legal) but serves data to the peers it chokes."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def on_request(self: Any, peer: Any, event: Any, now: float) -> None:
            peer.conn.am_choking = False
            try:
                orig(self, peer, event, now)
            finally:
                peer.conn.am_choking = True

        return on_request

    _request_handler(make)


@mutant("msg20-rejects-while-unchoked", ("MSG-20",))
def msg20() -> None:
    """Every request is rejected, even for announced pieces while the peer is unchoked."""
    from p2pshare_core.events import Reject

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def on_request(self: Any, peer: Any, event: Any, now: float) -> None:
            self._send(
                peer, Reject(index=event.index, offset=event.offset, length=event.length), now
            )

        return on_request

    _request_handler(make)


@mutant("msg4-rejects-dropped", ("MSG-4", "MSG-7"), quick=True)
def msg4_rejects_dropped() -> None:
    """Rejects are never sent: a request the node will not serve gets no reply at all."""
    _rewrite_outbound_frames(lambda c, raw: b"" if P.msg_id(raw) == 0x05 else raw)


# A throttled node holds the requests it has not served yet, and the suite, told its limit,
# makes them outstanding: the only way a peer can see MSG-5 and MSG-6 of a node that otherwise
# answers every request as soon as it reads it.
_THROTTLED = {
    "node_args": ("--max-upload-rate", "32768"),
    "suite_args": ("--upload-rate", "32768"),
}


@mutant("msg6-duplicate-unchecked", ("MSG-6",), **_THROTTLED)
def msg6() -> None:
    """A request equal to one still outstanding is accepted (served twice)."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def check(self: Any, triple: Any, requests: Any, incoming: bool) -> None:
            if incoming and triple in requests:
                return
            orig(self, triple, requests, incoming)

        return check

    P.wrap(_conn().Connection, "_check_request", make)

    def answer(orig: Callable[..., Any]) -> Callable[..., Any]:
        def check(self: Any, asker: Any, triple: Any, incoming: bool) -> None:
            if not incoming and triple not in asker.requests:
                return  # the second reply to the duplicate
            orig(self, asker, triple, incoming)

        return check

    P.wrap(_conn().Connection, "_answer", answer)


@mutant("msg5-no-request-limit", ("MSG-5", "SEC-2"), **_THROTTLED)
def msg5() -> None:
    """Any number of outstanding requests is accepted from a peer."""
    _conn().MAX_PEER_REQUESTS = 1_000_000


plain(
    "benign-throttled",
    (),
    "Uploads limited to 32 KiB/s, the suite told so: the cases that plug its queue pass (only "
    "they run: at that rate the health check's whole-piece fetch outlasts the suite's timeout).",
    node_args=_THROTTLED["node_args"],
    suite_args=(*_THROTTLED["suite_args"], "--select", "MSG-5,MSG-6,SPAN-3,SPAN-4"),
)


@mutant("msg12-unknown-cancel-fails", ("MSG-12",))
def msg12() -> None:
    """A cancel for a request that is not outstanding fails the connection (as UNSOLICITED)."""

    def rewrite(conn: Any, raw: bytes) -> bytes:
        if P.msg_id(raw) == 0x06 and len(raw) == 17:
            triple = struct.unpack_from(">III", raw, 5)
            if triple not in conn._theirs.requests:
                return P.frame(0x05, raw[5:])
        return raw

    P.inbound(rewrite)


@mutant("msg15-redundant-state-fails", ("MSG-15",))
def msg15() -> None:
    """A second interested in a row fails the connection (as MALFORMED)."""

    def rewrite(conn: Any, raw: bytes) -> bytes:
        # tracked here: the frames of one read are filtered before the Connection sees any
        interested = conn.__dict__.get("_mutant_interested", False)
        if P.msg_id(raw) in (0x09, 0x0A):
            conn.__dict__["_mutant_interested"] = P.msg_id(raw) == 0x09
        if P.msg_id(raw) == 0x09 and interested:
            return P.frame(0x02, b"\0")
        return raw

    P.inbound(rewrite)


# --- META -----------------------------------------------------------------------------------


@mutant("meta11-chunk-65-rejected", ("META-11",))
def meta11_range() -> None:
    """A metainfo_request for chunk >= 65 is answered with metainfo_reject, not OUT_OF_RANGE."""

    def patched(orig: Callable[..., Any]) -> Callable[..., Any]:
        def check(self: Any, event: Any, sender: Any, incoming: bool) -> None:
            if incoming and event.chunk >= 65:
                sender.metainfo_requests.add(event.chunk)
                return
            orig(self, event, sender, incoming)

        return check

    P.wrap(_conn().Connection, "_check_metainfo_request", patched)


@mutant("meta11-no-metainfo-reply", ("META-11",))
def meta11_silent() -> None:
    """metainfo_requests for chunks past the end get no reply."""
    sm = _swarm()
    from p2pshare_core.events import MetainfoRequest

    orig = sm.Swarm._handlers[MetainfoRequest]

    def handler(self: Any, peer: Any, event: Any, now: float) -> None:
        if event.chunk == 0:
            orig(self, peer, event, now)

    sm.Swarm._handlers[MetainfoRequest] = handler


@mutant("meta13-unsolicited-metainfo-accepted", ("META-13",))
def meta13() -> None:
    """metainfo_data and metainfo_reject answering no request are dropped, not refused."""

    def rewrite(conn: Any, raw: bytes) -> bytes:
        if P.msg_id(raw) in (0x0D, 0x0E) and len(raw) >= 9:
            (chunk,) = struct.unpack_from(">I", raw, 5)
            if chunk not in conn._ours.metainfo_requests:
                return b""
        return raw

    P.inbound(rewrite)


@mutant("meta12-wrong-total-size", ("META-12", "META-3", "META-1"))
def meta12() -> None:
    """metainfo_data carries a total_size one too large."""

    def edit(conn: Any, raw: bytes) -> bytes:
        if P.msg_id(raw) != 0x0D:
            return raw
        (total,) = struct.unpack_from(">I", raw, 9)
        return raw[:9] + struct.pack(">I", total + 1) + raw[13:]

    _rewrite_outbound_frames(edit)


# --- ERR / STATE ----------------------------------------------------------------------------


@mutant("err2-bad-reason-accepted", ("ERR-2",))
def err2() -> None:
    """Error messages with a bad or over-long reason are read as if the reason were empty."""

    def fix(conn: Any, raw: bytes) -> bytes:
        if P.msg_id(raw) == 0x0F and len(raw) >= 7:
            return P.frame(0x0F, raw[5:7])
        return raw

    P.inbound(fix)


@mutant("err7-unknown-code-is-a-violation", ("ERR-7",))
def err7() -> None:
    """An error with an unknown code is treated as a malformed frame."""

    def rewrite(conn: Any, raw: bytes) -> bytes:
        if P.msg_id(raw) == 0x0F and len(raw) >= 7 and struct.unpack_from(">H", raw, 5)[0] > 18:
            return P.frame(0x02, b"\0")
        return raw

    P.inbound(rewrite)


@mutant("err11-unsolicited-before-range", ("ERR-11", "MSG-9"))
def err11() -> None:
    """Pieces are matched against requests before their range is checked."""

    def patched(orig: Callable[..., Any]) -> Callable[..., Any]:
        def check(
            self: Any, index: int, offset: int, length: int, incoming: bool, req: str
        ) -> None:
            if incoming and req == "MSG-9" and (index, offset, length) not in self._ours.requests:
                from p2pshare_core.errors import ErrorCode

                raise self._fail(True, ErrorCode.UNSOLICITED, "MSG-10", "unsolicited")
            orig(self, index, offset, length, incoming, req)

        return check

    P.wrap(_conn().Connection, "_check_block", patched)


@mutant("err3-silent-close", ("ERR-3",))
def err3() -> None:
    """Protocol violations close the connection without an error frame."""
    _rewrite_outbound_frames(lambda c, raw: b"" if P.msg_id(raw) == 0x0F else raw)


@mutant("err1-undefined-code", ("ERR-1",))
def err1() -> None:
    """Error frames carry an undefined code."""
    _rewrite_outbound_frames(
        lambda c, raw: raw[:5] + b"\x03\xe7" + raw[7:] if P.msg_id(raw) == 0x0F else raw
    )


@mutant("err5-frame-after-error", ("ERR-5",))
def err5() -> None:
    """A keepalive follows every error frame."""
    _rewrite_outbound_frames(lambda c, raw: raw + b"\0\0\0\0" if P.msg_id(raw) == 0x0F else raw)


@mutant("state4-reads-after-error", ("STATE-4", "ERR-6"))
def state4() -> None:
    """A received error is not acted on: later frames are still processed."""
    _drop_inbound(lambda conn, raw: P.msg_id(raw) == 0x0F)


@mutant("state6-processes-after-violation", ("STATE-6",))
def state6() -> None:
    """After a violation the node still acts on the frames that arrived behind the bad one
    (the malformed frame takes effect only after the next frame)."""

    def rewrite(conn: Any, raw: bytes) -> bytes:
        held = conn.__dict__.pop("_mutant_held", b"")
        size = _FIXED.get(P.msg_id(raw) or -1)
        if not held and size is not None and len(raw) != 5 + size:
            conn.__dict__["_mutant_held"] = raw
            return b""
        return raw + held

    P.inbound(rewrite)


@mutant("state1-one-state-machine", ("STATE-1",))
def state1() -> None:
    """One state per connection instead of two: once the node has sent its bitfield, the
    peer's side counts as ACTIVE too, so a peer may skip its bitfield."""

    def rewrite(conn: Any, raw: bytes) -> bytes:
        state = conn.__dict__.setdefault("_mutant_state1", {})
        mid = P.msg_id(raw)
        if mid == 0x00 and len(raw) >= 5 + 94 and "pieces" not in state:
            file_size, piece_size = struct.unpack_from(">QI", raw, 5 + 60)
            state["pieces"] = -(-file_size // piece_size) if piece_size else 0
            return raw
        if "pieces" in state and not state.get("done") and mid is not None:
            state["done"] = True
            if mid != 0x01:  # no bitfield: behave as if an empty one had come
                return P.frame(0x01, bytes((state["pieces"] + 7) // 8)) + raw
        return raw

    P.inbound(rewrite)


@mutant("state2-keepalive-before-handshake", ("STATE-2",))
def state2() -> None:
    """Keepalives before the peer's handshake are accepted."""
    _drop_inbound(lambda conn, raw: _before_handshake(conn, raw) and len(raw) == 4)


@mutant("dup8-half-closed-kept", ("DUP-8",))
def dup8() -> None:
    """The peer's end of stream is never acted on: the connection stays open (and counted)
    until the peer resets it."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def receive_data(self: Any, data: Any) -> None:
            if data:
                orig(self, data)

        return receive_data

    P.wrap(_conn().Connection, "receive_data", make)


@mutant("msg14-starts-unchoked", ("MSG-14",))
def msg14() -> None:
    """The node takes every peer as unchoked from the start: it never sends the unchoke that
    would tell the peer so, and serves its requests."""
    _rewrite_outbound_frames(lambda c, raw: b"" if P.msg_id(raw) == 0x08 else raw)


# --- PEX / DUP ------------------------------------------------------------------------------


@mutant("pex2-no-entry-limit", ("PEX-2", "SEC-2"))
def pex2() -> None:
    """Peers messages with more than 50 entries are accepted."""
    _conn().MAX_PEX_ENTRIES = 255


@mutant("pex3-bad-family-ignored", ("PEX-3",))
def pex3() -> None:
    """A peers message with an entry of unknown family is dropped instead of refused."""

    def bad(conn: Any, raw: bytes) -> bool:
        return P.msg_id(raw) == 0x0B and len(raw) > 6 + 20 and raw[6 + 20] not in (4, 6)

    _drop_inbound(bad)


@mutant("pex4-lists-recipient", ("PEX-4",), quick=True)
def pex4_recipient() -> None:
    """The peers message lists the recipient itself."""
    sm = _swarm()
    orig = sm.build_pex_entries
    sm.build_pex_entries = lambda connected, recipient, limit: orig(connected, None, limit)


@mutant("pex4-lists-unconnected", ("PEX-4",))
def pex4_unconnected() -> None:
    """The peers message also lists addresses learned by PEX, connected or not."""
    sm = _swarm()
    from p2pshare_core.events import Peers

    learned: list[Any] = []
    on_peers = sm.Swarm._handlers[Peers]

    def handler(self: Any, peer: Any, event: Any, now: float) -> None:
        learned.extend(event.entries)
        on_peers(self, peer, event, now)

    sm.Swarm._handlers[Peers] = handler
    orig = sm.build_pex_entries
    sm.build_pex_entries = lambda connected, recipient, limit: orig(
        [*connected, *learned], recipient, limit
    )


@mutant("pex6-peers-twice", ("PEX-6",))
def pex6() -> None:
    """Every peers message is sent twice in a row."""
    _rewrite_outbound_frames(lambda c, raw: raw * 2 if P.msg_id(raw) == 0x0B else raw)


@mutant("pex1-bad-count-sent", ("PEX-1",))
def pex1() -> None:
    """Peers messages are sent with a count one too large."""
    _rewrite_outbound_frames(
        lambda c, raw: (
            raw[:5] + bytes([raw[5] + 1]) + raw[6:]
            if P.msg_id(raw) == 0x0B and len(raw) > 5
            else raw
        )
    )


@mutant("dup1-dials-higher-ids", ("DUP-1", "PEX-10"))
def dup1() -> None:
    """PEX peers are dialed whatever their peer ID."""
    from p2pshare_core.peerbook import PeerBook

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def add_pex(self: Any, source: bytes, entries: Any, now: float) -> int:
            ours = self.our_id
            entries = [e for e in entries if e.peer_id != ours]
            self.our_id = b"\xff" * 21  # above every 20-byte ID
            try:
                return int(orig(self, source, entries, now))
            finally:
                self.our_id = ours

        return add_pex

    P.wrap(PeerBook, "add_pex", make)


@mutant("dup3-self-accepted", ("DUP-3",))
def dup3() -> None:
    """A handshake carrying the node's own peer ID is accepted."""
    sm = _swarm()

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def on_handshake(self: Any, peer: Any, hs: Any, now: float) -> None:
            if hs.peer_id == self.peer_id:
                hs = type(hs)(**{**_fields(hs), "peer_id": bytes(20)})
            orig(self, peer, hs, now)

        return on_handshake

    from p2pshare_core.events import Handshake

    sm.Swarm._handlers[Handshake] = make(sm.Swarm._handlers[Handshake])


def _handshake_handler(make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    sm = _swarm()
    from p2pshare_core.events import Handshake

    sm.Swarm._handlers[Handshake] = make(sm.Swarm._handlers[Handshake])


@mutant("dup5-acceptor-closes-duplicate", ("DUP-5",))
def dup5() -> None:
    """Of two connections the peer dialed with one peer ID, the acceptor closes the later."""
    from p2pshare_core.errors import ErrorCode

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def on_handshake(self: Any, peer: Any, hs: Any, now: float) -> None:
            existing = self._by_peer_id.get(hs.peer_id)
            if existing is not None and not existing.outbound and not peer.outbound:
                self._drop(peer, ErrorCode.DUPLICATE_CONNECTION, "duplicate", now)
                return
            orig(self, peer, hs, now)

        return on_handshake

    _handshake_handler(make)


@mutant("dup4-keeps-lower-dialer", ("DUP-4",))
def dup4() -> None:
    """Of two connections with one peer, the one dialed by the lower peer ID is kept."""
    from p2pshare_core.errors import ErrorCode

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def on_handshake(self: Any, peer: Any, hs: Any, now: float) -> None:
            existing = self._by_peer_id.get(hs.peer_id)
            if existing is not None and existing.outbound != peer.outbound:
                outbound = existing if existing.outbound else peer
                inbound = peer if outbound is existing else existing
                wrong = inbound if self.peer_id < hs.peer_id else outbound
                self._drop(wrong, ErrorCode.DUPLICATE_CONNECTION, "duplicate", now)
                if wrong is peer:
                    return
            orig(self, peer, hs, now)

        return on_handshake

    _handshake_handler(make)


@mutant("term3-ids-little-endian", ("TERM-3",))
def term3() -> None:
    """Peer IDs are ordered as little-endian integers (the last byte decides) in the dial rule."""
    from p2pshare_core.peerbook import PeerBook

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def add_pex(self: Any, source: bytes, entries: Any, now: float) -> int:
            ours = self.our_id
            mine = int.from_bytes(ours, "little")
            lower = [e for e in entries if int.from_bytes(e.peer_id, "little") < mine]
            self.our_id = b"\xff" * 21  # above every 20-byte ID: the entries chosen above pass
            try:
                return int(orig(self, source, [e for e in lower if e.peer_id != ours], now))
            finally:
                self.our_id = ours

        return add_pex

    P.wrap(PeerBook, "add_pex", make)


def _fields(obj: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


plain(
    "dup7-no-connection-limit",
    ("DUP-7", "SEC-2"),
    "No connection limit (the suite is told the reference's 50).",
    tunables={"max_connections": 1_000_000},
    quick=True,
)


@mutant("sec3-crash-on-early-close", ("SEC-3",))
def sec3() -> None:
    """The node process dies when a peer closes a connection before its handshake arrived."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def receive_data(self: Any, data: Any) -> None:
            if not data and self.their_handshake is None and not self.buffered:
                os._exit(70)
            orig(self, data)

        return receive_data

    P.wrap(_conn().Connection, "receive_data", make)


@mutant(
    "sec7-handshaking-takes-a-slot",
    ("SEC-7",),
    tunables={"max_connections": 10},
    suite_args=("--connection-limit", "10"),
)
def sec7() -> None:
    """Inbound connections still in their handshake count against the peer limit."""
    from p2pshare_core.errors import ErrorCode

    sm = _swarm()

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def make_room(self: Any, peer: Any, now: float) -> bool:
            if len(self._peers) > self.config.max_connections:
                self._drop(peer, ErrorCode.TOO_MANY_CONNECTIONS, "full", now)
                return False
            return bool(orig(self, peer, now))

        return make_room

    P.wrap(sm.Swarm, "_make_room", make)


_TIMERS = (
    "--strict",
    "--select",
    "FRAME-9,FRAME-10",
    "--idle-timeout",
    "3",
    "--keepalive-interval",
    "1",
)
plain(
    "frame9-no-keepalives",
    ("FRAME-9",),
    "Never sends keepalives (SHOULD; the suite is told a 1 s interval).",
    tunables={"keepalive_interval": 1e6, "idle_timeout": 3.0},
    suite_args=_TIMERS,
)
plain(
    "frame10-no-idle-timeout",
    ("FRAME-10",),
    "Never drops a silent peer (SHOULD; the suite is told a 3 s idle timeout).",
    tunables={"keepalive_interval": 1.0, "idle_timeout": 1e6},
    suite_args=_TIMERS,
)

# --- downloaders (mode "get": judged by the serve cases) -------------------------------------

plain(
    "get-no-have",
    ("MSG-2",),
    "A downloader that never sends have.",
    faults=("no-have",),
    mode="get",
)


@mutant("get-accepts-bad-pieces", ("BEH-11", "META-4", "MSG-2", "BF-4"), mode="get")
def get_accepts_bad_pieces() -> None:
    """A downloader that takes every piece as verified, whatever its hash."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def piece_hashed(self: Any, index: int, digest: bytes, now: float) -> None:
            meta = self.metainfo
            orig(self, index, meta.piece_hashes[index] if meta is not None else digest, now)

        return piece_hashed

    P.wrap(_swarm().Swarm, "piece_hashed", make)


@mutant("get-never-interested", ("MSG-18",), mode="get")
def get_never_interested() -> None:
    """A downloader that waits for an unchoke before it sends interested."""
    sm = _swarm()
    from p2pshare_core.events import Interested

    send = sm.Swarm._send

    def _send(self: Any, peer: Any, event: Any, now: float) -> None:
        if isinstance(event, Interested) and peer.conn.peer_choking:
            return
        send(self, peer, event, now)

    sm.Swarm._send = _send


@mutant("get-unsafe-name-unchecked", ("HS-10",), mode="get", scenario="unsafe-name")
def get_unsafe_name_unchecked() -> None:
    """A downloader from a bare address that does not check the name in the peer's handshake
    (its file system layer still refuses to write it, silently on the wire)."""
    _names_unchecked()


@mutant("get-link-share-unchecked", ("LINK-6", "HS-14"), mode="get", scenario="wrong-link")
def get_link_share_unchecked() -> None:
    """A downloader that drops the share ID of a full link (downloads whatever it is served)."""
    import dataclasses

    from p2pshare_node import node

    init = node.Node.__init__

    def __init__(self: Any, config: Any, *args: Any, **kwargs: Any) -> None:
        init(self, dataclasses.replace(config, share_id=None), *args, **kwargs)

    node.Node.__init__ = __init__  # type: ignore[method-assign]


_NO_DEPTH_LIMIT = 1_000_000


@mutant(
    "get-no-request-limit",
    ("MSG-5",),
    quick=True,
    mode="get",
    scenario="request-limit",
    tunables={
        "min_pipeline_depth": _NO_DEPTH_LIMIT,
        "initial_pipeline_depth": _NO_DEPTH_LIMIT,
        "max_pipeline_depth": _NO_DEPTH_LIMIT,
    },
)
def get_no_request_limit() -> None:
    """A downloader with no cap on its requests outstanding at one peer: it asks a peer that
    unchokes it for every block it lacks at once."""
    from p2pshare_core import picker

    _conn().MAX_PEER_REQUESTS = _NO_DEPTH_LIMIT
    picker.MAX_PEER_REQUESTS = _NO_DEPTH_LIMIT  # type: ignore[attr-defined]


@mutant("get-metainfo-unverified", ("META-14",), mode="get", scenario="bad-metainfo")
def get_metainfo_unverified() -> None:
    """A downloader that takes the assembled metainfo as it decodes, without checking that its
    SHA-256 is the share ID."""
    from p2pshare_core import metafetch
    from p2pshare_core.metainfo import Metainfo

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def assemble(self: Any, share_id: bytes | None) -> Any:
            blob = b"".join(self._chunks[i] for i in range(len(self._chunks)))
            try:
                real = Metainfo.decode(blob).share_id
            except Exception:
                real = share_id
            return orig(self, real)

        return assemble

    P.wrap(metafetch.MetainfoFetch, "assemble", make)


_SHORT_REQUEST_TIMEOUT = {"request_timeout": 1.0}


@mutant(
    "get-forgets-timed-out-requests",
    ("MSG-21",),
    mode="get",
    scenario="late-replies",
    tunables=_SHORT_REQUEST_TIMEOUT,
)
def get_forgets_timed_out_requests() -> None:
    """A downloader that forgets a request once its REQUEST_TIMEOUT has passed, so the late
    reply fails the connection as UNSOLICITED."""
    import time

    def sending(orig: Callable[..., Any]) -> Callable[..., Any]:
        def send_requests(self: Any, blocks: Any) -> bytes:
            blocks = list(blocks)
            data = orig(self, blocks)
            sent = self.__dict__.setdefault("_mutant_sent", {})
            sent.update(dict.fromkeys(map(tuple, blocks), time.monotonic()))
            return bytes(data)

        return send_requests

    def answering(orig: Callable[..., Any]) -> Callable[..., Any]:
        def answer(self: Any, asker: Any, triple: Any, incoming: bool) -> None:
            sent = self.__dict__.get("_mutant_sent", {}).get(tuple(triple))
            timeout = _SHORT_REQUEST_TIMEOUT["request_timeout"]
            if incoming and sent is not None and time.monotonic() - sent > timeout:
                asker.requests.discard(triple)  # given up on: forgotten
            orig(self, asker, triple, incoming)

        return answer

    P.wrap(_conn().Connection, "send_requests", sending)
    P.wrap(_conn().Connection, "_answer", answering)


@mutant("get-accepts-before-summary", ("HS-19",), mode="get", scenario="early-dial")
def get_accepts_before_summary() -> None:
    """A downloader that accepts connections as soon as it listens, before it knows the share,
    and so refuses them (SHUTDOWN) instead of letting them wait in the accept queue."""
    from p2pshare_node import node

    opened = node.open_listener

    async def open_listener(*args: Any, **kwargs: Any) -> Any:
        listener = await opened(*args, **kwargs)
        await listener.start_serving()
        return listener

    node.open_listener = open_listener


@mutant("get-handshake-summary-altered", ("HS-16",), mode="get")
def get_handshake_summary_altered() -> None:
    """A downloader whose handshake does not echo the summary it learned from the acceptor's
    (one byte of file_sha1 differs)."""

    def edit(b: bytearray) -> None:
        b[5 + 72] ^= 0x01

    _handshake_out(edit)


@mutant("get-handshake-before-summary", ("HS-17",), mode="get")
def get_handshake_before_summary() -> None:
    """A downloader from a link (share ID, no summary) that sends a handshake as soon as it has
    dialed, with a summary it cannot know yet (all zero), instead of waiting for the
    acceptor's."""
    from p2pshare_core.actions import Send

    sm = _swarm()
    opened = sm.Swarm.connection_opened

    def connection_opened(
        self: Any, conn_id: int, host: str, port: int, outbound: bool, now: float
    ) -> None:
        opened(self, conn_id, host, port, outbound, now)
        if outbound and self.summary is None and self.share_id is not None:
            payload = (
                b"P2PS\x01\x00"
                + self.peer_id
                + struct.pack(">H", self.listen_port)
                + self.share_id
                + bytes(32)
                + struct.pack(">H", 1)
                + b"x"
            )
            self._emit(Send(conn_id, P.frame(0x00, payload)))

    sm.Swarm.connection_opened = connection_opened


@mutant("get-metainfo-requested-twice", ("META-16",), mode="get")
def get_metainfo_requested_twice() -> None:
    """A downloader that sends every metainfo_request twice in a row."""
    _rewrite_outbound_frames(lambda c, raw: raw * 2 if P.msg_id(raw) == 0x0C else raw)


# --- SPAN (extension, spec 5.2) -------------------------------------------------------------


@mutant("span1-span-frames-decoded-without-span", ("SPAN-1",))
def span1() -> None:
    """Span frames are decoded on every connection, not only where SPAN is in force: from a
    peer that never offered it they are acted on (and fail it) instead of being skipped."""
    _conn().FRAME_IDS = {}


@mutant("span2-no-range-check", ("SPAN-2",))
def span2() -> None:
    """A span's range is not checked when received (past the end, count 0, over
    MAX_SPAN_LENGTH): the span goes on to the swarm as if it were valid."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def check(self: Any, index: int, count: int, incoming: bool) -> int:
            if incoming:
                return count * self._piece_size
            result: int = orig(self, index, count, incoming)
            return result

        return check

    P.wrap(_conn().Connection, "_check_span", make)


@mutant("span3-span-pieces-not-counted", ("SPAN-3",), **_THROTTLED)
def span3() -> None:
    """Spans do not count toward MAX_PEER_REQUESTS: only block requests do."""
    _conn()._Side.outstanding = lambda self: len(self.requests)


@mutant("span4-overlap-unchecked", ("SPAN-4",), **_THROTTLED)
def span4() -> None:
    """A span overlapping one still outstanding is accepted (and served twice)."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def check(self: Any, index: int, count: int, sender: Any, incoming: bool) -> None:
            if incoming:
                sender.span_pieces.difference_update(range(index, index + count))
            orig(self, index, count, sender, incoming)

        return check

    P.wrap(_conn().Connection, "_check_span_request", make)


@mutant("span5-spans-never-answered", ("SPAN-5",))
def span5() -> None:
    """A span request that passed every check gets no reply at all."""
    from p2pshare_core import serving

    original = serving.Uploader.request

    def request(self: Any, peer: Any, block: Any, span: int, held: bool, now: float) -> None:
        if not span:
            original(self, peer, block, span, held, now)

    serving.Uploader.request = request


@mutant("span6-rejects-every-span", ("SPAN-6",), quick=True)
def span6() -> None:
    """Every span is rejected, even one of announced pieces while the peer is unchoked."""
    from p2pshare_core import serving

    original = serving.Uploader.request

    def request(self: Any, peer: Any, block: Any, span: int, held: bool, now: float) -> None:
        original(self, peer, block, span, held and not span, now)

    serving.Uploader.request = request


@mutant("span7-unsolicited-span-replies-accepted", ("SPAN-7",))
def span7() -> None:
    """A span_data or span_reject answering no outstanding span is accepted."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def answer(self: Any, asker: Any, span: Any, incoming: bool) -> None:
            if incoming and span not in asker.spans:
                return
            orig(self, asker, span, incoming)

        return answer

    P.wrap(_conn().Connection, "_answer_span", make)


plain(
    "span8-corrupt-span-data",
    ("SPAN-8",),
    "Served data (spans included) has every byte flipped.",
    faults=("corrupt",),
    suite_args=("--select", "SPAN-8"),
)


@mutant("span9-unknown-span-cancel-fails", ("SPAN-9",))
def span9() -> None:
    """A span_cancel for a span that is not outstanding fails the connection (UNSOLICITED)."""
    from p2pshare_core.errors import ErrorCode
    from p2pshare_core.events import SpanCancel

    sm = _swarm()
    original = sm.Swarm._handlers[SpanCancel]

    def on_cancel(self: Any, peer: Any, event: Any, now: float) -> None:
        if event.span not in peer.conn.their_spans:
            self._drop(peer, ErrorCode.UNSOLICITED, "span_cancel of no outstanding span", now)
            return
        original(self, peer, event, now)

    sm.Swarm._handlers[SpanCancel] = on_cancel


plain(
    "benign-no-extensions",
    (),
    "A node that offers no extension (--no-extensions): plain version 1, every span case "
    "but the not-in-force one unsupported.",
    node_args=("--no-extensions",),
    quick=True,
)


# --- SEED (super-seeding, spec 7.7) ----------------------------------------------------------


@mutant(
    "seed2-super-seeder-serves-unannounced", ("SEED-2",), quick=True, node_args=("--super-seed",)
)
def seed2() -> None:
    """A super-seeder serves every piece it holds, also one it never announced to the requester
    (as if it were a plain seeder that forgot what it told whom)."""
    sm = _swarm()

    def announced(self: Any, peer: Any, index: int) -> bool:
        return bool(self.picker.has(index))

    sm.Swarm._announced = announced


# --- TREE (folder shares, spec 8.7): downloaders fed hostile trees --------------------------


def _tree() -> Any:
    from p2pshare_core import tree

    return tree


@mutant("get-tree-dotdot-accepted", ("TREE-3",), mode="get", scenario="tree-dotdot")
def get_tree_dotdot() -> None:
    """A downloader that does not check the components of a tree's paths ('..' passes)."""
    _tree()._safe_component = lambda component: component


@mutant("get-tree-order-unchecked", ("TREE-4",), mode="get", scenario="tree-duplicate")
def get_tree_order_unchecked() -> None:
    """A downloader that accepts a file list out of order or with a path listed twice."""
    tree = _tree()
    original = tree.check_entries

    def check_entries(entries: Any) -> None:
        unique = {entry.path: entry for entry in entries}  # the duplicate is dropped unseen
        original(sorted(unique.values(), key=lambda e: e.order_key))

    tree.check_entries = check_entries


@mutant("get-tree-case-collision-accepted", ("TREE-5",), mode="get",
        scenario="tree-case-collision")  # fmt: skip
def get_tree_case_collision() -> None:
    """A downloader that compares tree paths byte for byte (README and readme are two files)."""
    _tree()._fold = lambda component: component


@mutant("get-tree-entry-limit-dropped", ("TREE-2",), mode="get", scenario="tree-too-many")
def get_tree_entry_limit() -> None:
    """A downloader that accepts any number of entries in a tree."""
    _tree().MAX_TREE_ENTRIES = 1 << 30


# --- benign variations ----------------------------------------------------------------------

plain(
    "benign-short-timers",
    (),
    "Keepalive every 1 s, idle timeout 3 s: the timer SHOULD cases pass.",
    tunables={"keepalive_interval": 1.0, "idle_timeout": 3.0},
    suite_args=_TIMERS,
    quick=True,
)

plain(
    "benign-small-connection-limit",
    (),
    "A connection limit of 10 (MAX_CONNECTIONS is a default).",
    tunables={"max_connections": 10},
    quick=True,
)
plain(
    "benign-get-reference",
    (),
    "The reference downloader itself, judged by every serve case (strict).",
    quick=True,
    mode="get",
)
plain(
    "benign-get-request-limit",
    (),
    "The reference downloader against a peer that answers no request: it stays within MSG-5.",
    mode="get",
    scenario="request-limit",
)
plain(
    "benign-get-late-replies",
    (),
    "The reference downloader (REQUEST_TIMEOUT 1 s) answered a second after it gave up.",
    mode="get",
    scenario="late-replies",
    tunables=_SHORT_REQUEST_TIMEOUT,
)


@mutant("benign-get-listens-early", (), mode="get", scenario="early-dial")
def benign_get_listens_early() -> None:
    """A downloader that listens before it knows the share (HS-19 allows it) and accepts only
    once it does: early connections wait in the accept queue."""
    from p2pshare_node import node

    opened = node.open_listener

    async def open_listener(*args: Any, **kwargs: Any) -> Any:
        listener = await opened(*args, **kwargs)
        for server in listener._servers:
            for sock in server.sockets:
                sock._sock.listen(16)  # listening, not accepting: the kernel queues them
        return listener

    node.open_listener = open_listener


plain(
    "benign-get-bad-metainfo",
    (),
    "The reference downloader offered a spoiled metainfo: it refuses it (META-14).",
    mode="get",
    scenario="bad-metainfo",
)
plain(
    "benign-never-unchokes",
    (),
    "No upload slots: every request is rejected (legal).",
    tunables={"upload_slots": 0},
)


@mutant("benign-unchoke-on-interested-only", ())
def benign_unchoke_on_interested() -> None:
    """Unchokes only in reaction to interested (BitTorrent-style), never on the handshake."""
    sm = _swarm()
    from p2pshare_core.events import Handshake

    orig = sm.Swarm._handlers[Handshake]

    def on_handshake(self: Any, peer: Any, hs: Any, now: float) -> None:
        may = self._choker.may_unchoke_new
        self._choker.may_unchoke_new = lambda count: False
        try:
            orig(self, peer, hs, now)
        finally:
            self._choker.may_unchoke_new = may

    sm.Swarm._handlers[Handshake] = on_handshake


@mutant("benign-chatty", ())
def benign_chatty() -> None:
    """A keepalive after every frame but the handshake and error frames (allowed anywhere)."""
    _rewrite_outbound_frames(
        lambda c, raw: raw if P.msg_id(raw) in (0x00, 0x0F) else raw + b"\0\0\0\0"
    )


@mutant("benign-no-pex", ())
def benign_no_pex() -> None:
    """Never sends peers messages (PEX-5 is a SHOULD)."""
    _swarm().Swarm._maybe_pex = lambda self, peer, now: None


@mutant("benign-bare-reasons", ())
def benign_bare_reasons() -> None:
    """Error frames with an empty reason (ERR-4 is a SHOULD)."""
    _rewrite_outbound_frames(
        lambda c, raw: P.frame(0x0F, raw[5:7]) if P.msg_id(raw) == 0x0F else raw
    )


def by_name(name: str) -> Mutant:
    for m in MUTANTS:
        if m.name == name:
            return m
    raise KeyError(name)
