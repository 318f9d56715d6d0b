"""Hypothesis-generated sessions checked against the core's Connection as the model.

One `Connection(Role.ACCEPTOR)` mirrors the target: our bytes go into its receive side, so it
predicts the target's reaction (carry on, or fail with a given error code); the target's frames
go into its send side, so every reply is checked against the state table and the semantic rules
(solicited, in range, exactly once). Rules mix valid and invalid messages, writes are split at
random boundaries, every example gets a fresh connection, and a failure is shrunk, printed as a
message trace with wire bytes, and re-run a few times to tell deterministic from flaky.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    RuleBasedStateMachine,
    get_state_machine_test,
    initialize,
    precondition,
    rule,
)
from p2pshare_core import codec
from p2pshare_core import constants as C
from p2pshare_core.connection import Connection
from p2pshare_core.errors import LocalProtocolError, RemoteProtocolError
from p2pshare_core.events import (
    NEED_DATA,
    Bitfield,
    Cancel,
    ConnectionClosed,
    Error,
    Handshake,
    KeepAlive,
    MetainfoRequest,
    Piece,
    Request,
)
from p2pshare_core.metainfo import chunk_count
from p2pshare_core.states import Role

from conformance import craft
from conformance.context import CaseContext
from conformance.expect import ExpectClose, ExpectMessage, ExpectOpen
from conformance.frames import Received
from conformance.outcomes import CaseStop, Closed, Fail, Timeout
from conformance.registry import case
from conformance.wire import Wire

SECTION = "model"
MAX_OUTSTANDING = 24


class ModelSession:
    """Our bytes in, the target's frames checked; knows what the target must do next."""

    def __init__(self, ctx: CaseContext) -> None:
        self.ctx = ctx
        self.model = Connection(Role.ACCEPTOR, ctx.target.share_id)
        self.wire: Wire = ctx.connect()
        self.pending = b""
        self.writes: list[str] = []  # hex of every write, for the rerun
        self.predicted: RemoteProtocolError | None = None
        self.peer_error_sent = False
        self.their_error: Received | None = None
        hs = self.wire.expect(ExpectMessage(("handshake",), skip=("keepalive",)))
        assert hs is not None
        self.absorb(hs)

    @property
    def finished(self) -> bool:
        """After a predicted error or our error message nothing more is sent."""
        return self.predicted is not None or self.peer_error_sent

    # -- our side --------------------------------------------------------------------------------
    def queue(self, data: bytes) -> None:
        """Bytes for the target: the model predicts its reaction before they are written."""
        self.pending += data
        self.model.receive_data(data)
        while True:
            try:
                event = self.model.next_event()
            except RemoteProtocolError as err:
                self.predicted = err
                return
            if event is NEED_DATA or isinstance(event, ConnectionClosed):
                return
            if isinstance(event, Error):
                self.peer_error_sent = True

    def flush(self, cuts: list[int] | None = None) -> None:
        data, self.pending = self.pending, b""
        if not data:
            return
        points = sorted({c % len(data) for c in cuts or []} - {0})
        bounds = [0, *points, len(data)]
        for start, end in itertools.pairwise(bounds):
            self.writes.append(data[start:end].hex())
            self.wire.write(data[start:end])

    # -- their side ------------------------------------------------------------------------------
    def absorb(self, frame: Received) -> None:
        """Check one frame from the target against the model's send side."""
        if self.their_error is not None:
            raise Fail(
                "frames after the error",
                expected="close right after the error [ERR-5]",
                actual=frame.describe(),
            )
        event = KeepAlive() if frame.name == "keepalive" else frame.event
        if isinstance(event, Error):
            self.their_error = frame
            return
        if event is None:
            return
        try:
            self.model.send(event)  # type: ignore[arg-type]
        except LocalProtocolError as err:
            raise Fail(
                "the target sent a frame the model forbids",
                expected=f"a frame allowed here [{err.requirement}]: {err.reason}",
                actual=frame.describe(),
            ) from err
        if isinstance(event, Piece):
            self._check_piece_data(event, frame)

    def _check_piece_data(self, event: Piece, frame: Received) -> None:
        meta = self.ctx.target.metainfo
        if meta is None or event.offset != 0 or len(event.data) != meta.piece_length(event.index):
            return
        if hashlib.sha256(event.data).digest() != meta.piece_hashes[event.index]:
            raise Fail(
                "piece data does not match its hash",
                expected=f"SHA-256 {meta.piece_hashes[event.index].hex()} [MSG-11]",
                actual=frame.describe(),
            )

    def poll(self, seconds: float) -> None:
        """Absorb whatever the target sends within `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                frame = self.wire.next_frame(deadline)
            except Timeout:
                return
            if frame is None:
                if not self.finished:
                    raise Closed(
                        "the target closed the connection", expected="no close", actual="EOF"
                    )
                self.wire.eof = True
                return
            self.absorb(frame)
            if self.their_error is not None and not self.finished:
                raise Fail(
                    "unexpected error from the target",
                    expected="no error (the model saw no violation)",
                    actual=self.their_error.describe(),
                )

    # -- the verdict -------------------------------------------------------------------------------
    def finish(self) -> None:
        """Everything sent; the target must now do exactly what the model says."""
        self.flush()
        timeout = self.ctx.opts.timeout
        if self.predicted is not None:
            code = int(self.predicted.code)
            self.wire.trace.steps.append(
                {"op": "expect", "conn": self.wire.number, "expect": ExpectClose((code,)).to_json()}
            )
            self._until_eof(
                timeout,
                f"error {self.predicted.code.name} then close "
                f"[{self.predicted.requirement}, ERR-3]",
            )
            if self.their_error is None:
                raise Fail(
                    "closed without an error frame",
                    expected=f"error {self.predicted.code.name} [ERR-3]",
                    actual="EOF",
                )
            if self.their_error.fields.get("code") != code:
                raise Fail(
                    "wrong error code",
                    expected=f"{self.predicted.code.name} [{self.predicted.requirement}]",
                    actual=self.their_error.describe(),
                )
            return
        if self.peer_error_sent:
            self._until_eof(timeout, "close after our error [ERR-6]")
            if self.their_error is not None:
                raise Fail(
                    "answered our error with an error",
                    expected="quiet close [ERR-6]",
                    actual=self.their_error.describe(),
                )
            return
        deadline = time.monotonic() + timeout
        while self.model.their_requests or self.model.their_metainfo_requests:
            if time.monotonic() > deadline:
                raise Timeout(
                    "requests left unanswered",
                    expected="one reply per request [MSG-4, META-11]",
                    actual=f"{len(self.model.their_requests)} block and "
                    f"{len(self.model.their_metainfo_requests)} metainfo requests outstanding",
                )
            self.poll(0.05)
        self.wire.trace.steps.append(
            {"op": "expect", "conn": self.wire.number, "expect": ExpectOpen(0.05).to_json()}
        )

    def _until_eof(self, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not self.wire.eof:
            if time.monotonic() > deadline:
                raise Timeout("the target did not close", expected=what, actual="still open")
            self.poll(min(0.1, max(0.0, deadline - time.monotonic())))


@dataclass
class ModelRun:
    """What one run of the state machine left behind."""

    ctx: CaseContext
    sessions: int = 0
    last_writes: list[str] = field(default_factory=list)
    last_session: ModelSession | None = None


def build_machine(run: ModelRun) -> type[RuleBasedStateMachine]:
    ctx = run.ctx
    target = ctx.target
    summary = target.summary
    n = target.piece_count

    triples = st.integers(0, max(0, n - 1)).flatmap(
        lambda i: st.tuples(
            st.just(i),
            st.sampled_from([0, summary.piece_length(i) // 2]) if n else st.just(0),
        ).flatmap(
            lambda io: st.tuples(
                st.just(io[0]),
                st.just(io[1]),
                st.sampled_from(
                    sorted(
                        {
                            min(C.MAX_BLOCK_LENGTH, summary.piece_length(io[0]) - io[1]),
                            1,
                            max(1, min(1000, summary.piece_length(io[0]) - io[1])),
                        }
                    )
                ),
            )
        )
    )
    invalid_messages = st.sampled_from(
        [
            "request-index-n",
            "request-zero",
            "request-too-long",
            "have-n",
            "cancel-index-n",
            "unsolicited-piece",
            "unsolicited-reject",
            "bitfield-again",
            "handshake-again",
            "oversize-length",
            "short-have",
            "peers-51",
            "peers-family-5",
            "unsolicited-metainfo-data",
            "metainfo-chunk-65",
            "error-shutdown",
        ]
    )

    class TargetModel(RuleBasedStateMachine):
        """Rules are messages; the model decides what the target must answer."""

        def __init__(self) -> None:
            super().__init__()
            ctx.close_all()
            ctx._wires.clear()
            ctx.trace.steps.clear()
            ctx.trace.log.clear()
            run.sessions += 1
            self.s = ModelSession(ctx)
            run.last_session = self.s
            self.peers_sent = False
            # Generation may depend only on what we sent, never on the target's timing, or
            # Hypothesis cannot replay an example: hence these, not the model's live sets.
            self.sent: list[tuple[int, int, int]] = []
            self.chunks_sent: set[int] = set()

        def teardown(self) -> None:
            try:
                if not getattr(self, "_broken", False):
                    self.s.finish()
            finally:
                run.last_writes = list(self.s.writes)
                self.s.wire.close()

        def _send(self, event: Any) -> None:
            self.s.queue(codec.encode(event))

        @initialize()
        def handshake(self) -> None:
            hs = target.handshake
            self._send(
                Handshake.for_share(
                    peer_id=ctx.peer_id(), listen_port=0, share_id=hs.share_id, summary=hs.summary
                )
            )
            self._send(Bitfield(bits=craft.empty_bitfield(n)))

        @precondition(lambda self: not self.s.finished and n > 0)
        @rule(triple=triples)
        def request(self, triple: tuple[int, int, int]) -> None:
            if triple in self.sent or len(self.sent) >= MAX_OUTSTANDING:
                return  # a repeat may or may not still be outstanding: a race, not a test
            self.sent.append(triple)
            self._send(Request(index=triple[0], offset=triple[1], length=triple[2]))

        @precondition(lambda self: not self.s.finished and bool(self.sent))
        @rule(data=st.data())
        def cancel(self, data: st.DataObject) -> None:
            triple = data.draw(st.sampled_from(self.sent))
            self._send(Cancel(index=triple[0], offset=triple[1], length=triple[2]))

        @precondition(lambda self: not self.s.finished)
        @rule(
            kind=st.sampled_from(["interested", "not_interested", "choke", "unchoke", "keepalive"])
        )
        def control(self, kind: str) -> None:
            self.s.queue(
                {
                    "interested": craft.interested(),
                    "not_interested": craft.not_interested(),
                    "choke": craft.choke(),
                    "unchoke": craft.unchoke(),
                    "keepalive": craft.keepalive(),
                }[kind]
            )

        @precondition(lambda self: not self.s.finished)
        @rule(message_id=st.integers(0x10, 0xFF), size=st.integers(0, 64))
        def unknown_frame(self, message_id: int, size: int) -> None:
            self.s.queue(craft.frame(message_id, bytes(size)))

        @precondition(lambda self: not self.s.finished)
        @rule(chunk=st.integers(0, 2))
        def metainfo_request(self, chunk: int) -> None:
            if chunk in self.chunks_sent:
                return
            self.chunks_sent.add(chunk)
            self._send(MetainfoRequest(chunk=chunk))

        @precondition(lambda self: not self.s.finished and not self.peers_sent)
        @rule(count=st.integers(0, 3))
        def peers(self, count: int) -> None:
            self.peers_sent = True  # a second one within PEX_MIN_INTERVAL/2 MAY be refused
            entries = [
                craft.peer_entry(bytes([0xFF - i]) * 20, "127.0.0.1", 0) for i in range(count)
            ]
            self.s.queue(craft.peers(entries))

        @precondition(lambda self: not self.s.finished)
        @rule(which=invalid_messages)
        def invalid(self, which: str) -> None:
            self.s.queue(invalid_bytes(ctx, which))

        @rule(cuts=st.lists(st.integers(1, 1 << 16), max_size=4))
        def flush(self, cuts: list[int]) -> None:
            self._guard(lambda: self.s.flush(cuts))

        @rule()
        def read(self) -> None:
            self._guard(lambda: self.s.poll(0.02))

        def _guard(self, action: Any) -> None:
            try:
                action()
            except BaseException:
                self._broken = True
                raise

    TargetModel.__name__ = "TargetModel"
    return TargetModel


def invalid_bytes(ctx: CaseContext, which: str) -> bytes:
    """Messages the target must refuse (the model says with which code) or, for error-shutdown,
    a message after which it must close quietly."""
    n = ctx.target.piece_count
    plen0 = ctx.target.summary.piece_length(0) if n else 1
    hs = ctx.target.handshake
    table = {
        "request-index-n": lambda: craft.request(n, 0, 1),
        "request-zero": lambda: craft.request(0, 0, 0),
        "request-too-long": lambda: craft.request(0, 0, C.MAX_BLOCK_LENGTH + 1),
        "have-n": lambda: craft.have(n),
        "cancel-index-n": lambda: craft.cancel(n, 0, 1),
        "unsolicited-piece": lambda: craft.piece(0, 0, bytes(min(8, plen0))),
        "unsolicited-reject": lambda: craft.reject(0, 0, min(8, plen0)),
        "bitfield-again": lambda: craft.bitfield(craft.empty_bitfield(n)),
        "handshake-again": lambda: craft.handshake(
            peer_id=b"\x01" * 20,
            listen_port=0,
            share_id=hs.share_id,
            file_size=hs.file_size,
            piece_size=hs.piece_size,
            file_sha1=hs.file_sha1,
            name=hs.name,
        ),
        "oversize-length": lambda: craft.length_prefix(C.MAX_FRAME_LENGTH + 1),
        "short-have": lambda: craft.frame(craft.HAVE, b"\x00\x00\x00"),
        "peers-51": lambda: craft.peers(
            [craft.peer_entry(bytes([i + 1]) * 20, "127.0.0.1", 0) for i in range(51)]
        ),
        "peers-family-5": lambda: craft.peers(
            [craft.peer_entry(b"\x02" * 20, "127.0.0.1", 1, family=5)]
        ),
        "unsolicited-metainfo-data": lambda: craft.metainfo_data(0, 100, bytes(100)),
        "metainfo-chunk-65": lambda: craft.metainfo_request(chunk_count(C.MAX_METAINFO_SIZE)),
        "error-shutdown": lambda: craft.error(16, "model says goodbye"),
    }
    return table[which]()


def rerun(ctx: CaseContext, writes: list[str]) -> str | None:
    """Re-send one example's exact writes with a fresh model; None if it passes now."""
    session = ModelSession(ctx)
    try:
        for chunk in writes:
            session.queue(bytes.fromhex(chunk))
            session.flush()
        session.finish()
        return None
    except CaseStop as stop:
        return f"{stop.outcome.value}: {stop.message}"
    finally:
        session.wire.close()


@case(
    "random-sessions",
    section=SECTION,
    requirements=("STATE-1", "STATE-2", "STATE-3", "STATE-6", "MSG-4", "ERR-3", "SEC-3"),
    kind="model",
)
def random_sessions(ctx: CaseContext) -> None:
    """Hypothesis interleavings of valid and invalid messages, torn across TCP writes, checked
    reply by reply against the core Connection model."""
    run = ModelRun(ctx)
    machine = build_machine(run)
    test = get_state_machine_test(
        machine,
        settings=settings(
            max_examples=ctx.opts.max_examples,
            stateful_step_count=12,
            deadline=None,
            database=None,
            derandomize=ctx.opts.seed is None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate, Phase.shrink],
            verbosity=Verbosity.normal,
            report_multiple_bugs=False,
        ),
    )
    if ctx.opts.seed is not None:
        test = hypothesis_seed(ctx.opts.seed)(test)
    program: list[str] = []

    def collect(text: object) -> None:
        program.append(str(text))

    try:
        with with_reporter(collect):
            test()
    except Flaky as exc:
        raise Fail(
            "the target misbehaved but not reproducibly (Hypothesis: flaky)",
            expected="the same reply to the same bytes",
            actual=str(exc)[:500],
        ) from exc
    except CaseStop as stop:
        log = list(ctx.trace.log)
        steps = list(ctx.trace.steps)
        writes = list(run.last_writes)
        again = [rerun(ctx, writes) for _ in range(3)]
        repro = sum(1 for r in again if r is not None)
        verdict = "deterministic" if repro == 3 else "flaky" if repro else "not reproduced"
        ctx.trace.log[:] = log
        ctx.trace.steps[:] = steps
        program += [n for n in getattr(stop, "__notes__", []) if "Explanation" not in n]
        stop.message = (
            f"{stop.message} -- shrunk after {run.sessions} sessions; re-run 3x: {verdict} "
            f"({repro}/3)\n    shrunk program:\n      "
            + "\n      ".join(line for text in program for line in text.splitlines())
        )
        raise
