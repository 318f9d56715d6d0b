"""One peer connection as a sans-IO state machine (h11 style).

Bytes in: `receive_data(data)` only buffers (b"" means EOF); `next_event()` parses at most one
frame and returns one event or NEED_DATA. Bytes out: `send(event)` checks the event against the
state table and the protocol's semantic rules and returns the frame to write. A peer's
violation raises RemoteProtocolError (send `Error.from_exception(err)`, then close); our own
raises LocalProtocolError. Either way that direction goes to State.ERROR for good.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Set
from typing import Final

from .capabilities import FRAME_IDS, Capability, check_offer, in_force
from .codec import (
    MESSAGES,
    decode_from,
    encode,
    piece_header,
    request_frame,
    span_header,
    span_request_frame,
)
from .constants import (
    LENGTH_PREFIX_SIZE,
    MAX_BLOCK_LENGTH,
    MAX_FRAME_LENGTH,
    MAX_METAINFO_CHUNKS,
    MAX_PEER_REQUESTS,
    MAX_PEX_ENTRIES,
    MAX_SPAN_LENGTH,
    PROTOCOL_VERSION,
    SHARE_ID_LENGTH,
)
from .errors import ErrorCode, LocalProtocolError, ProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    Bitfield,
    Cancel,
    Choke,
    ConnectionClosed,
    Error,
    Event,
    Handshake,
    Have,
    Interested,
    KeepAlive,
    MetainfoData,
    MetainfoReject,
    MetainfoRequest,
    NeedData,
    NotInterested,
    Peers,
    Piece,
    ReceivedEvent,
    Reject,
    Request,
    SpanCancel,
    SpanData,
    SpanReject,
    SpanRequest,
    Unchoke,
)
from .metainfo import ShareSummary, check_geometry, chunk_count, chunk_length
from .states import TRANSITIONS, Role, State
from .tree import check_summary

__all__ = ["Connection", "Role", "State"]

Triple = tuple[int, int, int]
Span = tuple[int, int]  # (first piece index, count) [SPAN-2]
_LENGTH = struct.Struct(">I")
_MESSAGE_TYPES: Final = {m.message_id: m.event_type for m in MESSAGES.values()}
_KEEPALIVE: Final = KeepAlive()
_CLOSED: Final = ConnectionClosed()
_KNOWN_CODES: Final = frozenset(int(code) for code in ErrorCode)


class _Side:
    """Per-direction bookkeeping: the state plus what that side has asked for."""

    __slots__ = (
        "handshake",
        "metainfo_requests",
        "requests",
        "span_pieces",
        "spans",
        "state",
    )

    def __init__(self) -> None:
        self.state = State.HANDSHAKE
        self.handshake: Handshake | None = None
        self.requests: set[Triple] = set()  # block requests this side sent, unanswered
        self.metainfo_requests: set[int] = set()  # metainfo chunks this side asked for
        self.spans: set[Span] = set()  # spans this side requested, unanswered [SPAN-7]
        self.span_pieces: set[int] = set()  # the pieces those spans cover [SPAN-3, SPAN-4]

    def outstanding(self) -> int:
        """Requests counted toward MAX_PEER_REQUESTS: blocks plus span pieces [SPAN-3]."""
        return len(self.requests) + len(self.span_pieces)


_KEPT_ROOM: Final = 64 * 1024
"""Receive room a connection fed by receive_data keeps once everything is parsed."""


class Connection:
    """Protocol state of one connection: feed it bytes, get events; give it events, get bytes."""

    def __init__(self, role: Role, share_id: bytes | None = None) -> None:
        if share_id is not None and len(share_id) != SHARE_ID_LENGTH:
            raise ValueError(f"share_id must be {SHARE_ID_LENGTH} bytes")
        self.role = role
        self._share_id = share_id
        self._summary: ShareSummary | None = None
        self._piece_count = 0  # geometry, fixed by the first handshake either way
        self._piece_size = 0
        self._file_size = 0
        self._ours = _Side()
        self._theirs = _Side()
        # Received bytes live in _buf[_pos:_end]; _buf[_end:] is room for more. _buf is never
        # resized in place (a view from get_buffer may still be alive): it is compacted in
        # place, or replaced by a larger one.
        self._buf = bytearray()
        self._pos = 0  # read offset into _buf: consumed bytes are dropped lazily
        self._end = 0
        self._skip = 0  # bytes of an unknown-id frame still to discard
        self._copied = False  # last bytes came by receive_data (no reader reuses the room)
        self._eof = False
        self._error: RemoteProtocolError | None = None
        self.our_capabilities = 0  # the flags of our handshake, once sent [EXT-1]
        self.peer_capabilities = 0  # the flags of theirs, once received (unknown bits too)
        self._in_force = Capability(0)  # kept current: checked for every extension frame
        self.am_choking = True
        self.peer_choking = True
        self.am_interested = False
        self.peer_interested = False

    # --- read-only views -----------------------------------------------------------------------

    @property
    def our_state(self) -> State:
        return self._ours.state

    @property
    def their_state(self) -> State:
        return self._theirs.state

    @property
    def our_handshake(self) -> Handshake | None:
        return self._ours.handshake

    @property
    def their_handshake(self) -> Handshake | None:
        return self._theirs.handshake

    @property
    def share_id(self) -> bytes | None:
        """The share this connection is about (given, or learned from the first handshake)."""
        return self._share_id

    @property
    def summary(self) -> ShareSummary | None:
        """Share geometry, known once either handshake has been sent or received."""
        return self._summary

    @property
    def our_requests(self) -> Set[Triple]:
        """(index, offset, length) we requested and that were not answered yet."""
        return self._ours.requests

    @property
    def their_requests(self) -> Set[Triple]:
        """(index, offset, length) the peer requested that we have not answered yet."""
        return self._theirs.requests

    @property
    def our_spans(self) -> Set[Span]:
        """(index, count) spans we requested and that were not answered yet [SPAN-7]."""
        return self._ours.spans

    @property
    def their_spans(self) -> Set[Span]:
        """(index, count) spans the peer requested that we have not answered yet."""
        return self._theirs.spans

    @property
    def our_metainfo_requests(self) -> Set[int]:
        return self._ours.metainfo_requests

    @property
    def their_metainfo_requests(self) -> Set[int]:
        return self._theirs.metainfo_requests

    @property
    def buffered(self) -> int:
        """Received bytes not parsed yet."""
        return self._end - self._pos

    # --- receiving -------------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer bytes from the peer; b"" means the peer closed its side (EOF). Parses nothing.

        The bytes are copied: `data` may be the caller's reusable read buffer (get_buffer and
        buffer_updated save that copy)."""
        if self._eof:
            raise RuntimeError("received data after EOF")
        if not data:
            self._eof = True
        elif self._error is None and self._theirs.state is not State.CLOSED:
            # after an error (theirs or ours) nothing is parsed any more, so nothing is kept
            size = len(data)
            self._copied = True
            self._make_room(size)
            self._buf[self._end : self._end + size] = data
            self._end += size

    def get_buffer(self, size: int) -> memoryview:
        """Room for the next bytes from the peer, for the caller to read into (say with
        socket.recv_into), then to report with buffer_updated: receive_data without its copy.

        The view is at least `size` bytes long, often longer (read as much of it as you like).
        Compacting in place to make room moves at most the one unparsed partial frame, and only
        once the free tail is shorter than `size`: with `size` a fraction of the buffer, the
        buffer's bytes are copied about once per `size` bytes received, not once each.
        """
        if size < 1:
            raise ValueError("size must be at least 1")
        self._make_room(size)
        return memoryview(self._buf)[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        """`nbytes` bytes from the peer were written at the start of the last get_buffer view
        (0 < nbytes <= its length; EOF is receive_data(b"")). Parses nothing, as receive_data."""
        if self._eof:
            raise RuntimeError("received data after EOF")
        if not 0 < nbytes <= len(self._buf) - self._end:
            raise ValueError(f"{nbytes} bytes do not fit the room get_buffer gave")
        self._copied = False
        if self._error is None and self._theirs.state is not State.CLOSED:
            self._end += nbytes  # (otherwise dropped, as receive_data drops them)

    def _make_room(self, size: int) -> None:
        """At least `size` free bytes after _end: compact in place, or move to a larger buffer
        (never resize _buf in place: a view of it may still be out)."""
        buf, pos, end = self._buf, self._pos, self._end
        if len(buf) - end >= size:
            return
        kept = end - pos
        if kept + size <= len(buf):
            if kept:
                with memoryview(buf) as view:
                    view[:kept] = view[pos:end]
        else:
            # Room for two reads of `size` beyond the partial frame, so compaction stays rare;
            # at least twice the partial frame, so a frame fed in small pieces is copied O(1)
            # times, not once per piece. At most 3 x max(frame, read) bytes.
            larger = bytearray(kept + 2 * max(size, kept))
            larger[:kept] = memoryview(buf)[pos:end]
            self._buf = larger
        self._pos, self._end = 0, kept

    def next_event(self) -> ReceivedEvent | NeedData:
        """Parse the next event from buffered bytes, or return NEED_DATA.

        Raises RemoteProtocolError if the peer broke the protocol; the receive side is then in
        State.ERROR and every later call raises the same error again.
        """
        if self._error is not None:
            raise RemoteProtocolError(self._error.code, self._error.requirement, self._error.reason)
        try:
            return self._next_event()
        except ProtocolError as err:
            remote = err.as_remote() if isinstance(err, LocalProtocolError) else err
            assert isinstance(remote, RemoteProtocolError)
            self._theirs.state = State.ERROR
            self._error = remote
            self._buf = bytearray()
            self._pos = self._end = 0
            raise remote from None

    def _need_data(self) -> ReceivedEvent | NeedData:
        if self._eof:
            if self._skip or self._pos < self._end:
                raise RemoteProtocolError(
                    ErrorCode.TRUNCATED,
                    "FRAME-8",
                    f"connection closed inside a frame ({self.buffered + self._skip} bytes short "
                    "or pending)",
                )
            self._transition(self._theirs, ConnectionClosed, incoming=True)
            return _CLOSED
        if self._pos == self._end:  # all parsed: the room starts at the front again (no copy)
            self._pos = self._end = 0
            if self._copied and len(self._buf) > _KEPT_ROOM:
                # Fed by receive_data, nobody reads into the room: a large frame's buffer is
                # not kept between frames (a simulated swarm has ~50 000 connections, each
                # held 512 KiB after its first 256 KiB piece). Readers keep theirs.
                self._buf = bytearray()
        return NEED_DATA

    def _next_event(self) -> ReceivedEvent | NeedData:
        if self._theirs.state is State.CLOSED:  # after their error message: ignore all (STATE-4)
            self._buf = bytearray()
            self._pos = self._end = self._skip = 0
            return _CLOSED if self._eof else NEED_DATA
        buf = self._buf
        while True:
            pos = self._pos
            available = self._end - pos
            if self._skip:
                step = min(self._skip, available)
                self._pos += step
                self._skip -= step
                if self._skip:
                    return self._need_data()
                continue
            if available < LENGTH_PREFIX_SIZE:
                return self._need_data()
            (length,) = _LENGTH.unpack_from(buf, pos)
            if length > MAX_FRAME_LENGTH:
                raise RemoteProtocolError(
                    ErrorCode.FRAME_TOO_LARGE,
                    "FRAME-3",
                    f"frame length {length} exceeds {MAX_FRAME_LENGTH}",
                )
            if length == 0:
                self._transition(self._theirs, KeepAlive, incoming=True)
                self._pos = pos + LENGTH_PREFIX_SIZE
                return _KEEPALIVE
            if available < LENGTH_PREFIX_SIZE + 1:
                return self._need_data()
            message_id = buf[pos + LENGTH_PREFIX_SIZE]
            kind = _MESSAGE_TYPES.get(message_id)
            if message_id in FRAME_IDS and not FRAME_IDS[message_id] & self._in_force:
                kind = None  # an extension not in force here: an unassigned id [SPAN-1]
            if kind is None:  # extension space: skip without buffering (FRAME-5)
                self._pos = pos + LENGTH_PREFIX_SIZE + 1
                self._skip = length - 1
                continue
            # Check the state before waiting for (and decoding) the payload.
            if kind not in TRANSITIONS[self._theirs.state]:
                raise self._unexpected(MESSAGES[message_id].name, True)
            end = pos + LENGTH_PREFIX_SIZE + length
            if self._end < end:
                return self._need_data()
            event = decode_from(message_id, buf, pos + LENGTH_PREFIX_SIZE + 1, end)
            self._pos = end
            self._apply(event, incoming=True)
            return event

    # --- sending ---------------------------------------------------------------------------------

    def send(self, event: Event | ConnectionClosed) -> bytes:
        """Check `event` against the protocol and return the frame to write (b"" for
        ConnectionClosed, which just marks our side closed)."""
        try:
            self._apply(event, incoming=False)
        except LocalProtocolError:
            self._ours.state = State.ERROR
            raise
        if isinstance(event, ConnectionClosed):
            return b""
        return encode(event)

    def send_requests(self, blocks: Iterable[Triple]) -> bytes:
        """Request every (index, offset, length) in `blocks`; the frames, concatenated.

        The same rules as `send(Request(...))` for each block (LocalProtocolError, and our side
        goes to ERROR, on the first that breaks one), without building an event per request:
        the swarm tops up pipelines of up to 64 requests on every block it receives.
        """
        frames: list[bytes] = []
        try:
            new_state = self._state_check(Request, incoming=False)
            requests = self._ours.requests
            for index, offset, length in blocks:
                if offset < 0 or index < 0:  # what Request.__post_init__ refuses (TERM-1)
                    raise LocalProtocolError(
                        ErrorCode.MALFORMED, "TERM-1", f"negative field in request {index, offset}"
                    )
                self._check_request((index, offset, length), requests, incoming=False)
                frames.append(request_frame(index, offset, length))
        except LocalProtocolError:
            self._ours.state = State.ERROR
            raise
        self._ours.state = new_state
        return b"".join(frames)

    def send_piece_header(self, index: int, offset: int, length: int) -> bytes:
        """Answer request (index, offset, length) with a piece whose data the caller sends
        itself right after these 13 bytes (zero-copy from the file)."""
        try:
            self._state_check(Piece, incoming=False)
            self._check_block(index, offset, length, False, "MSG-9")
            self._answer(self._theirs, (index, offset, length), incoming=False)
        except LocalProtocolError:
            self._ours.state = State.ERROR
            raise
        return piece_header(index, offset, length)

    def send_spans(self, spans: Iterable[Span]) -> bytes:
        """Request every (index, count) span in `spans`; the frames, concatenated [SPAN-1..4]."""
        frames: list[bytes] = []
        try:
            new_state = self._state_check(SpanRequest, incoming=False)
            for index, count in spans:
                self._check_span_request(index, count, self._ours, incoming=False)
                frames.append(span_request_frame(index, count))
        except LocalProtocolError:
            self._ours.state = State.ERROR
            raise
        self._ours.state = new_state
        return b"".join(frames)

    def send_span_header(self, index: int, count: int) -> tuple[bytes, int]:
        """Answer span (index, count) with span_data whose data the caller sends itself right
        after the returned 13 bytes (zero-copy from the file); also returns the data length."""
        try:
            self._state_check(SpanData, incoming=False)
            length = self._check_span(index, count, False)
            self._answer_span(self._theirs, (index, count), False)
        except LocalProtocolError:
            self._ours.state = State.ERROR
            raise
        return span_header(index, count, length), length

    # --- the rules -------------------------------------------------------------------------------

    @staticmethod
    def _fail(incoming: bool, code: ErrorCode, requirement: str, reason: str) -> ProtocolError:
        if incoming:
            return RemoteProtocolError(code, requirement, reason)
        return LocalProtocolError(code, requirement, reason)

    def _unexpected(self, what: str, incoming: bool) -> ProtocolError:
        side = self._theirs if incoming else self._ours
        who = "peer" if incoming else "we"
        return self._fail(
            incoming,
            ErrorCode.UNEXPECTED_MESSAGE,
            "STATE-2" if incoming else "STATE-3",
            f"{who} sent {what} in state {side.state.value}",
        )

    def _state_check(self, kind: type, incoming: bool) -> State:
        side = self._theirs if incoming else self._ours
        new_state = TRANSITIONS[side.state].get(kind)
        if new_state is None:
            raise self._unexpected(kind.__name__, incoming)
        return new_state

    def _transition(self, side: _Side, kind: type, incoming: bool) -> None:
        side.state = self._state_check(kind, incoming)

    def _check_block(
        self, index: int, offset: int, length: int, incoming: bool, requirement: str
    ) -> None:
        """MSG-3 (request, reject, cancel) / MSG-9 (piece): the block lies inside the share."""
        if index >= self._piece_count:  # (0 until a handshake fixed the geometry)
            raise self._fail(
                incoming,
                ErrorCode.OUT_OF_RANGE,
                requirement,
                f"piece index {index} >= piece count {self._piece_count}",
            )
        if not 1 <= length <= MAX_BLOCK_LENGTH:
            raise self._fail(
                incoming,
                ErrorCode.OUT_OF_RANGE,
                requirement,
                f"block length {length} not in 1..{MAX_BLOCK_LENGTH}",
            )
        piece_length = min(self._piece_size, self._file_size - index * self._piece_size)
        if offset + length > piece_length:
            raise self._fail(
                incoming,
                ErrorCode.OUT_OF_RANGE,
                requirement,
                f"block {offset}+{length} runs past the end of piece {index} "
                f"({piece_length} bytes)",
            )

    def _check_request(self, triple: Triple, requests: set[Triple], incoming: bool) -> None:
        """MSG-3, MSG-5, MSG-6 for one request; records it as outstanding."""
        self._check_block(*triple, incoming, "MSG-3")
        if triple in requests:
            raise self._fail(
                incoming,
                ErrorCode.UNEXPECTED_MESSAGE,
                "MSG-6",
                f"request {triple} is already outstanding",
            )
        side = self._theirs if incoming else self._ours
        if side.outstanding() >= MAX_PEER_REQUESTS:  # spans' pieces count too [SPAN-3]
            raise self._fail(
                incoming,
                ErrorCode.TOO_MANY_REQUESTS,
                "MSG-5",
                f"more than {MAX_PEER_REQUESTS} requests outstanding",
            )
        requests.add(triple)

    def _check_span(self, index: int, count: int, incoming: bool) -> int:
        """SPAN-2: whole pieces inside the share, at most MAX_SPAN_LENGTH bytes; the length."""
        if not (self._in_force & Capability.SPAN):  # (receiving: skipped before, SPAN-1)
            raise self._fail(
                incoming, ErrorCode.UNEXPECTED_MESSAGE, "SPAN-1", "extension SPAN is not in force"
            )
        if count < 1 or index + count > self._piece_count:
            raise self._fail(
                incoming,
                ErrorCode.OUT_OF_RANGE,
                "SPAN-2",
                f"span of {count} pieces from {index} not inside {self._piece_count} pieces",
            )
        last = index + count - 1
        length = (count - 1) * self._piece_size + min(
            self._piece_size, self._file_size - last * self._piece_size
        )
        if length > MAX_SPAN_LENGTH:
            raise self._fail(
                incoming,
                ErrorCode.OUT_OF_RANGE,
                "SPAN-2",
                f"span of {count} pieces from {index} is {length} bytes, max {MAX_SPAN_LENGTH}",
            )
        return length

    def _check_span_request(self, index: int, count: int, sender: _Side, incoming: bool) -> None:
        """SPAN-2, then SPAN-4 before SPAN-3 (ERR-11); records the span as outstanding."""
        self._check_span(index, count, incoming)
        pieces = range(index, index + count)
        covered = sender.span_pieces
        if any(i in covered for i in pieces):
            raise self._fail(
                incoming,
                ErrorCode.UNEXPECTED_MESSAGE,
                "SPAN-4",
                f"span {index, count} overlaps a span that is still outstanding",
            )
        if sender.outstanding() + count > MAX_PEER_REQUESTS:
            raise self._fail(
                incoming,
                ErrorCode.TOO_MANY_REQUESTS,
                "SPAN-3",
                f"span {index, count} makes more than {MAX_PEER_REQUESTS} requests outstanding",
            )
        sender.spans.add((index, count))
        covered.update(pieces)

    def _answer_span(self, asker: _Side, span: Span, incoming: bool) -> None:
        """A span_data/span_reject must answer an outstanding span; one reply each [SPAN-7]."""
        try:
            asker.spans.remove(span)
        except KeyError:
            raise self._fail(
                incoming,
                ErrorCode.UNSOLICITED,
                "SPAN-7",
                f"reply to span {span} that is not an outstanding span",
            ) from None
        asker.span_pieces.difference_update(range(span[0], span[0] + span[1]))

    def _check_index(self, index: int, incoming: bool) -> None:
        if index >= self._piece_count:
            raise self._fail(
                incoming,
                ErrorCode.OUT_OF_RANGE,
                "MSG-1",
                f"piece index {index} >= piece count {self._piece_count}",
            )

    def _answer(self, asker: _Side, triple: Triple, incoming: bool) -> None:
        """A piece/reject must answer an outstanding request; each request gets one reply."""
        try:
            asker.requests.remove(triple)
        except KeyError:
            raise self._fail(
                incoming,
                ErrorCode.UNSOLICITED,
                "MSG-10",
                f"reply to block {triple} that is not an outstanding request",
            ) from None

    def _apply(self, event: Event | ConnectionClosed, incoming: bool) -> None:
        """Check every rule for `event` travelling in one direction, then update the state."""
        sender, receiver = (self._theirs, self._ours) if incoming else (self._ours, self._theirs)
        kind = type(event)
        new_state = self._state_check(kind, incoming)
        if kind is Piece:
            assert isinstance(event, Piece)
            triple = (event.index, event.offset, len(event.data))
            self._check_block(*triple, incoming, "MSG-9")
            self._answer(receiver, triple, incoming)
        elif kind is Request:
            assert isinstance(event, Request)
            self._check_request(
                (event.index, event.offset, event.length), sender.requests, incoming
            )
        elif kind is Reject:
            assert isinstance(event, Reject)
            triple = (event.index, event.offset, event.length)
            self._check_block(*triple, incoming, "MSG-3")
            self._answer(receiver, triple, incoming)
        elif kind is Have:
            assert isinstance(event, Have)
            self._check_index(event.index, incoming)
        elif kind is Cancel:
            assert isinstance(event, Cancel)
            # A cancel of a request not outstanding is fine: it may have crossed the reply.
            self._check_block(event.index, event.offset, event.length, incoming, "MSG-3")
        elif kind is SpanData:
            assert isinstance(event, SpanData)
            length = self._check_span(event.index, event.count, incoming)
            self._answer_span(receiver, event.span, incoming)
            if len(event.data) != length:
                raise self._fail(
                    incoming,
                    ErrorCode.MALFORMED,
                    "SPAN-7",
                    f"span {event.span} carries {len(event.data)} bytes, not {length}",
                )
        elif kind is SpanRequest:
            assert isinstance(event, SpanRequest)
            self._check_span_request(event.index, event.count, sender, incoming)
        elif kind is SpanReject:
            assert isinstance(event, SpanReject)
            self._check_span(event.index, event.count, incoming)
            self._answer_span(receiver, event.span, incoming)
        elif kind is SpanCancel:
            assert isinstance(event, SpanCancel)
            self._check_span(event.index, event.count, incoming)  # unknown spans: ignored
        elif kind is Handshake:
            assert isinstance(event, Handshake)
            self._check_handshake(event, sender, incoming)
        elif kind is Bitfield:
            assert isinstance(event, Bitfield)
            self._check_bitfield(event, incoming)
        elif kind is Peers:
            assert isinstance(event, Peers)
            if len(event.entries) > MAX_PEX_ENTRIES:
                raise self._fail(
                    incoming,
                    ErrorCode.PEX_VIOLATION,
                    "PEX-2",
                    f"{len(event.entries)} peers entries, max {MAX_PEX_ENTRIES}",
                )
        elif kind is MetainfoRequest:
            assert isinstance(event, MetainfoRequest)
            self._check_metainfo_request(event, sender, incoming)
        elif kind is MetainfoData:
            assert isinstance(event, MetainfoData)
            self._check_metainfo_data(event, receiver, incoming)
        elif kind is MetainfoReject:
            assert isinstance(event, MetainfoReject)
            self._take_metainfo_request(receiver, event.chunk, incoming)
        elif kind is Error:
            assert isinstance(event, Error)
            if not incoming and event.code not in _KNOWN_CODES:  # receivers accept any (ERR-7)
                raise LocalProtocolError(
                    ErrorCode.MALFORMED, "ERR-1", f"error code {event.code} is not defined"
                )
        elif kind is Choke or kind is Unchoke:
            if incoming:
                self.peer_choking = kind is Choke
            else:
                self.am_choking = kind is Choke
        elif kind is Interested or kind is NotInterested:
            if incoming:
                self.peer_interested = kind is Interested
            else:
                self.am_interested = kind is Interested
        sender.state = new_state

    @property
    def capabilities_in_force(self) -> Capability:
        """The extensions both handshakes offered: only these may be used [EXT-3]."""
        return self._in_force

    def _check_handshake(self, hs: Handshake, sender: _Side, incoming: bool) -> None:
        if incoming:
            self.peer_capabilities = hs.flags  # (unknown bits are kept, and ignored [EXT-2])
        else:  # the codec already refuses other versions on receive (HS-3)
            if hs.version != PROTOCOL_VERSION:
                raise LocalProtocolError(
                    ErrorCode.UNSUPPORTED_VERSION,
                    "HS-3",
                    f"protocol version {hs.version} is not supported",
                )
            try:
                check_offer(hs.flags)
            except ValueError as exc:
                raise LocalProtocolError(ErrorCode.BAD_HANDSHAKE, "EXT-1", str(exc)) from None
            self.our_capabilities = hs.flags
        self._in_force = in_force(self.our_capabilities, self.peer_capabilities)
        try:
            check_geometry(hs.file_size, hs.piece_size, ErrorCode.BAD_HANDSHAKE, "HS-9")
            check_summary(hs.summary)
        except LocalProtocolError as err:
            requirement = "HS-10" if err.requirement == "NAME-1" else err.requirement
            raise self._fail(incoming, err.code, requirement, err.reason) from None
        if self._share_id is not None and hs.share_id != self._share_id:
            raise self._fail(
                incoming,
                ErrorCode.SHARE_MISMATCH,
                "HS-14",
                f"handshake is for share {hs.share_id.hex()}, expected {self._share_id.hex()}",
            )
        summary = hs.summary
        if self._summary is not None and summary != self._summary:
            raise self._fail(
                incoming,
                ErrorCode.SHARE_MISMATCH,
                "HS-15" if incoming else "HS-16",
                f"handshake describes {summary}, the other side said {self._summary}",
            )
        self._share_id = hs.share_id
        self._summary = summary
        self._piece_count = summary.piece_count
        self._piece_size = summary.piece_size
        self._file_size = summary.file_size
        sender.handshake = hs

    def _check_bitfield(self, event: Bitfield, incoming: bool) -> None:
        count = self._piece_count
        size = (count + 7) // 8
        if len(event.bits) != size:
            raise self._fail(
                incoming,
                ErrorCode.MALFORMED,
                "BF-2",
                f"bitfield is {len(event.bits)} bytes, {count} pieces need {size}",
            )
        spare = size * 8 - count
        if spare and event.bits[-1] & ((1 << spare) - 1):
            raise self._fail(incoming, ErrorCode.MALFORMED, "BF-3", "bitfield has spare bits set")

    def _check_metainfo_request(
        self, event: MetainfoRequest, sender: _Side, incoming: bool
    ) -> None:
        if event.chunk >= MAX_METAINFO_CHUNKS:
            raise self._fail(
                incoming,
                ErrorCode.OUT_OF_RANGE,
                "META-11",
                f"metainfo chunk {event.chunk} >= {MAX_METAINFO_CHUNKS}, the most there can be",
            )
        if event.chunk in sender.metainfo_requests:
            raise self._fail(
                incoming,
                ErrorCode.UNEXPECTED_MESSAGE,
                "META-16",
                f"metainfo chunk {event.chunk} is already requested",
            )
        sender.metainfo_requests.add(event.chunk)

    def _take_metainfo_request(self, asker: _Side, chunk: int, incoming: bool) -> None:
        if chunk not in asker.metainfo_requests:
            raise self._fail(
                incoming,
                ErrorCode.UNSOLICITED,
                "META-13",
                f"reply to metainfo chunk {chunk}, which was not requested",
            )
        asker.metainfo_requests.discard(chunk)

    def _check_metainfo_data(self, event: MetainfoData, asker: _Side, incoming: bool) -> None:
        self._take_metainfo_request(asker, event.chunk, incoming)
        summary = self._summary
        assert summary is not None
        expected_total = summary.metainfo_size
        if event.total_size != expected_total:
            raise self._fail(
                incoming,
                ErrorCode.BAD_METAINFO,
                "META-12",
                f"metainfo total size {event.total_size}, the handshake implies {expected_total}",
            )
        if event.chunk >= chunk_count(expected_total):
            raise self._fail(
                incoming,
                ErrorCode.BAD_METAINFO,
                "META-12",
                f"metainfo chunk {event.chunk} past the end ({expected_total} bytes)",
            )
        expected = chunk_length(expected_total, event.chunk)
        if len(event.data) != expected:
            raise self._fail(
                incoming,
                ErrorCode.BAD_METAINFO,
                "META-12",
                f"metainfo chunk {event.chunk} has {len(event.data)} bytes, expected {expected}",
            )
