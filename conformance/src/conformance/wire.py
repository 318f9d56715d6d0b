"""One blocking TCP connection to the target, with a wire log and a replayable trace.

Blocking sockets with deadlines keep every case a plain function (no event loop to share with
Hypothesis); every read is bounded by the case's timeout, so nothing hangs.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from p2pshare_core import constants as C
from p2pshare_core.errors import ErrorCode

from conformance.craft import message_name
from conformance.expect import Expectation, ExpectClose, ExpectMessage, ExpectOpen
from conformance.frames import BadFrame, Received, decode_frame
from conformance.outcomes import Closed, Fail, Timeout

REQ_FRAME_LIMIT = "FRAME-4"  # the target must not send frames over MAX_FRAME_LENGTH


@dataclass
class Trace:
    """Everything a case did on the wire, in order: the content of a replay file."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    verbose: bool = False
    started: float = field(default_factory=time.monotonic)

    def note(self, line: str) -> None:
        stamped = f"{time.monotonic() - self.started:7.3f} {line}"
        self.log.append(stamped)
        if self.verbose:
            print("    " + stamped, flush=True)


def hex_preview(data: bytes, limit: int = 48) -> str:
    text = data[:limit].hex(" ")
    return text + (f" ... (+{len(data) - limit} bytes)" if len(data) > limit else "")


def describe_outgoing(data: bytes) -> str:
    """Name the frames in a write, for the wire log (best effort: writes may split frames)."""
    names: list[str] = []
    pos = 0
    while pos + 4 <= len(data) and len(names) < 6:
        (length,) = struct.unpack_from(">I", data, pos)
        if length == 0:
            names.append("keepalive")
            pos += 4
            continue
        if pos + 5 > len(data):
            break
        names.append(message_name(data[pos + 4]) + f"[len={length}]")
        pos += 4 + length
    if pos < len(data) or not names:
        names.append("(partial)")
    return " ".join(names)


class Wire:
    """A connection the case drives; every write and expectation is recorded in `trace`."""

    def __init__(self, host: str, port: int, *, trace: Trace, number: int, timeout: float) -> None:
        self.host = host
        self.port = port
        self.trace = trace
        self.number = number
        self.timeout = timeout
        self._buf = bytearray()
        self.eof = False
        self.write_failed = False
        self.received: list[Received] = []
        trace.steps.append({"op": "connect", "conn": number})
        trace.note(f"[c{number}] connect {host}:{port}")
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise Closed(f"cannot connect to {host}:{port}: {exc}") from exc
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- writing ---------------------------------------------------------------------------
    def write(self, data: bytes, *, delay: float = 0.0) -> None:
        """Send bytes in one write; a failure (target already closed) shows up on the next read."""
        if delay:
            time.sleep(delay)
        step: dict[str, Any] = {"op": "write", "conn": self.number, "hex": data.hex()}
        if delay:
            step["delay"] = delay
        self.trace.steps.append(step)
        self.trace.note(f"[c{self.number}] -> {describe_outgoing(data)} | {hex_preview(data)}")
        if self.write_failed:
            return
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.write_failed = True
            self.trace.note(f"[c{self.number}]    write failed: {exc}")

    def write_split(self, data: bytes, cuts: list[int], *, delay: float = 0.0) -> None:
        """Send `data` as several writes, cut at the given offsets."""
        bounds = [0, *sorted(c for c in set(cuts) if 0 < c < len(data)), len(data)]
        for start, end in itertools.pairwise(bounds):
            self.write(data[start:end], delay=delay)

    def shutdown_write(self) -> None:
        """Half-close: the target sees EOF, we can still read its answer."""
        self.trace.steps.append({"op": "shutdown", "conn": self.number})
        self.trace.note(f"[c{self.number}] -> EOF (shutdown write side)")
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.trace.steps.append({"op": "close", "conn": self.number})
        with contextlib.suppress(OSError):
            self.sock.close()

    # -- reading ---------------------------------------------------------------------------
    def _fill(self, deadline: float) -> bool:
        """Read more bytes; False on timeout. Sets `eof` on close or reset."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except TimeoutError:
            return False
        except OSError as exc:
            self.trace.note(f"[c{self.number}] <- connection reset ({exc.__class__.__name__})")
            self.eof = True
            return True
        if not chunk:
            self.eof = True
        self._buf += chunk
        return True

    def next_frame(self, deadline: float) -> Received | None:
        """The next whole frame, or None at EOF. Raises Timeout at the deadline."""
        while True:
            if len(self._buf) >= 4:
                (length,) = struct.unpack_from(">I", self._buf, 0)
                if length > C.MAX_FRAME_LENGTH:
                    raise Fail(
                        f"target sent a frame with length {length} > {C.MAX_FRAME_LENGTH}",
                        expected=f"frame length <= {C.MAX_FRAME_LENGTH} [{REQ_FRAME_LIMIT}]",
                        actual=f"length field {length}",
                    )
                if len(self._buf) >= 4 + length:
                    raw = bytes(self._buf[: 4 + length])
                    del self._buf[: 4 + length]
                    msg_id = raw[4] if length else None
                    try:
                        frame = decode_frame(msg_id, raw[5:], raw)
                    except BadFrame as exc:
                        self.trace.note(f"[c{self.number}] <- INVALID {hex_preview(raw)}")
                        raise Fail(
                            str(exc),
                            expected=f"a valid frame [{exc.requirement}]",
                            actual=raw.hex(),
                        ) from exc
                    self.trace.note(
                        f"[c{self.number}] <- {frame.describe()} | {hex_preview(raw, 32)}"
                    )
                    if frame.name.startswith("unknown("):
                        raise Fail(
                            "target sent a frame with an undefined id",
                            expected="only ids defined by the spec [FRAME-6]",
                            actual=frame.describe(),
                        )
                    self.received.append(frame)
                    return frame
            if self.eof:
                if self._buf:
                    self.trace.note(f"[c{self.number}] <- EOF inside a frame ({len(self._buf)} B)")
                    raise Fail(
                        "target closed in the middle of a frame",
                        expected="whole frames",
                        actual=f"{len(self._buf)} trailing bytes: {hex_preview(bytes(self._buf))}",
                    )
                self.trace.note(f"[c{self.number}] <- EOF")
                return None
            if not self._fill(deadline):
                raise Timeout("no complete frame before the deadline")

    # -- expectations ------------------------------------------------------------------------
    def expect(self, expectation: Expectation, timeout: float | None = None) -> Received | None:
        """Wait for `expectation`; raises Fail / Closed / Timeout with expected vs actual."""
        self.trace.steps.append(
            {"op": "expect", "conn": self.number, "expect": expectation.to_json()}
        )
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        if isinstance(expectation, ExpectMessage):
            return self._expect_message(expectation, deadline)
        if isinstance(expectation, ExpectClose):
            self._expect_close(expectation, deadline)
            return None
        self._expect_open(expectation)
        return None

    def _expect_message(self, exp: ExpectMessage, deadline: float) -> Received:
        skipped: list[str] = []
        while True:
            try:
                frame = self.next_frame(deadline)
            except Timeout as exc:
                raise Timeout(
                    "no reply before the deadline",
                    expected=exp.describe(),
                    actual="nothing" + (f" (skipped {', '.join(skipped)})" if skipped else ""),
                ) from exc
            if frame is None:
                raise Closed("target closed the connection", expected=exp.describe(), actual="EOF")
            if exp.matches(frame.name, frame.fields):
                return frame
            if frame.name in exp.skip:
                skipped.append(frame.name)
                continue
            raise Fail("unexpected reply", expected=exp.describe(), actual=frame.describe())

    def _expect_close(self, exp: ExpectClose, deadline: float) -> None:
        error: Received | None = None
        while True:
            try:
                frame = self.next_frame(deadline)
            except Timeout as exc:
                raise Timeout(
                    "target did not close the connection",
                    expected=exp.describe(),
                    actual=f"still open; error frame: {error.describe() if error else 'none'}",
                ) from exc
            if frame is None:
                break
            if error is not None:
                raise Fail(
                    "target sent frames after its error frame",
                    expected="close right after the error [ERR-5]",
                    actual=frame.describe(),
                )
            if frame.name == "error":
                error = frame
                code = frame.fields.get("code")
                if code not in set(ErrorCode):
                    raise Fail(
                        "unknown error code",
                        expected="a defined error code [ERR-1]",
                        actual=frame.describe(),
                    )
                if exp.codes is not None and code not in exp.codes:
                    raise Fail("wrong error code", expected=exp.describe(), actual=frame.describe())
        if error is None and exp.error_required:
            raise Fail(
                "target closed without sending an error frame first",
                expected=exp.describe(),
                actual="bare close",
            )

    def _expect_open(self, exp: ExpectOpen) -> None:
        deadline = time.monotonic() + exp.seconds
        while True:
            try:
                frame = self.next_frame(deadline)
            except Timeout:
                return
            if frame is None:
                raise Closed("target closed the connection", expected=exp.describe(), actual="EOF")
            if frame.name == "error":
                raise Fail("target sent an error", expected=exp.describe(), actual=frame.describe())


def error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)
