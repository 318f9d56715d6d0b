"""What a case gets to work with: the options, what was learned about the target, a trace."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from p2pshare_core.bitfield import Bitfield
from p2pshare_core.events import Handshake
from p2pshare_core.metainfo import Metainfo, ShareSummary

from conformance.frames import Received
from conformance.wire import Trace, Wire


@dataclass
class Options:
    """Command-line settings that cases read."""

    host: str
    port: int
    timeout: float = 3.0
    max_examples: int = 25
    seed: int | None = None
    share: bytes | None = None
    strict: bool = False
    verbose: bool = False
    replay_dir: str | None = None
    connection_limit: int | None = None  # the target's configured limit, if known
    idle_timeout: float | None = None  # the target's IDLE_TIMEOUT setting, if known
    keepalive_interval: float | None = None  # the target's KEEPALIVE_INTERVAL, if known
    upload_rate: int | None = None  # the target's upload limit in bytes/s, if it has one


@dataclass
class TargetInfo:
    """The share the target serves, learned from its handshake, bitfield and metainfo."""

    handshake: Handshake
    bitfield: Bitfield
    metainfo: Metainfo | None
    metainfo_error: str | None = None

    @property
    def share_id(self) -> bytes:
        return self.handshake.share_id

    @property
    def peer_id(self) -> bytes:
        return self.handshake.peer_id

    @property
    def summary(self) -> ShareSummary:
        return self.handshake.summary

    @property
    def piece_count(self) -> int:
        return self.summary.piece_count

    def pieces_held(self) -> list[int]:
        return list(self.bitfield)


@dataclass
class CaseContext:
    """Per-case state: every connection opened here is recorded in one trace."""

    opts: Options
    target: TargetInfo
    rng: random.Random
    trace: Trace = field(default_factory=Trace)
    _wires: list[Wire] = field(default_factory=list)

    def connect(self, timeout: float | None = None) -> Wire:
        wire = Wire(
            self.opts.host,
            self.opts.port,
            trace=self.trace,
            number=len(self._wires),
            timeout=self.opts.timeout if timeout is None else timeout,
        )
        self._wires.append(wire)
        return wire

    def last_frame(self) -> Received | None:
        """The last frame received on the newest connection, if any."""
        if not self._wires or not self._wires[-1].received:
            return None
        return self._wires[-1].received[-1]

    def close_all(self) -> None:
        for wire in self._wires:
            wire.close()

    def peer_id(self, *, below: bytes | None = None, above: bytes | None = None) -> bytes:
        """A fresh peer ID, optionally bytewise below/above another (for dial-rule cases)."""
        for _ in range(1000):
            candidate = self.rng.randbytes(20)
            if below is not None and not candidate < below:
                continue
            if above is not None and not candidate > above:
                continue
            if candidate != self.target.peer_id:
                return candidate
        if below is not None:
            return bytes(20)
        return b"\xff" * 20
