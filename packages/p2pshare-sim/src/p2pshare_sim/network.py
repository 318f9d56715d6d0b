"""The flow-level network: per-peer access links, TCP-like sharing, latency, loss, partitions.

No packets. A connection's direction is a `Link`: a FIFO byte stream whose piece blocks are
*bulk segments* and whose small frames ride behind the segment before them (TCP keeps order).
While a link has bulk data queued it is an active flow with a rate

    min(sender upload / sender's active flows, receiver download / receiver's active flows,
        the TCP throughput loss allows over that path (Mathis: 1.22 MSS / (RTT sqrt(p))))

where a peer's upload and download are the payload its link rates carry (PAYLOAD_SHARE: every
full packet of MSS bytes costs MTU + FRAMING on the wire), so a peer's upload is shared fairly
among its connections, and a flow is recomputed only when the number of flows at one of its
two ends changes. A segment's completion time follows from
its remaining bytes and the rate; a rate change reschedules it (old heap entries are left to be
skipped by version number). Small frames with no bulk data ahead of them go out at once and
arrive one latency later; loss adds one retransmission timeout to a small frame with
probability p. While a peer's upload is saturated, everything it sends also waits its access
link's queue delay (`queue_ms`: the buffer a loss-based TCP keeps filled). Bytes cross a
partition only once it heals.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .world import SimPeer

__all__ = ["MSS", "PAYLOAD_SHARE", "Link", "Segment"]

MTU = 1500  # bytes of an IP packet on an Ethernet-sized path
HEADERS = 52  # IPv4 (20) + TCP (20) + its timestamp option (12, on by default in Linux)
FRAMING = 14  # the Ethernet header: a link's rate (and `tc tbf`) counts it too
MSS = MTU - HEADERS  # 1448 bytes of TCP payload per full packet
PAYLOAD_SHARE = MSS / (MTU + FRAMING)
"""The share of a link's rate that carries data (0.956): a scenario's capacities are link
rates, as a provider sells them and a traffic shaper enforces them (measured in the six-host
lab: the seeder's tbf let out 4.9 % more bytes than the node wrote)."""


class Segment:
    """A piece block in flight (or queued) on a link, plus the frames sent after it."""

    __slots__ = ("block", "header", "length", "size", "tail")

    def __init__(self, header: bytes, block: bytes) -> None:
        self.header = header  # the piece (or span) header frame
        self.block = block  # shared, never copied: thousands of queued blocks cost no memory
        self.length = len(block)  # piece-data bytes (for accounting)
        self.size = len(header) + self.length
        self.tail: list[bytes] = []  # later small frames, delivered right after the block


class Link:
    """One direction of one connection: `src` sends, `dst` receives on `dst_conn`."""

    __slots__ = (
        "active",
        "back",
        "crosses",
        "dst",
        "dst_conn",
        "last_arrival",
        "latency",
        "loss_cap",
        "open",
        "queue",
        "rate",
        "remaining",
        "src",
        "updated",
        "version",
    )

    def __init__(self, src: SimPeer, dst: SimPeer, dst_conn: int, loss: float) -> None:
        self.src = src
        self.dst = dst
        self.dst_conn = dst_conn
        self.latency = src.latency + dst.latency
        rtt = 2 * self.latency
        self.loss_cap = math.inf if loss <= 0 else 1.22 * MSS / (max(rtt, 1e-4) * math.sqrt(loss))
        self.back: Link | None = None  # the other direction of the same connection
        self.queue: deque[Segment] = deque()
        self.active = False  # bulk data queued: counted in both ends' flow counts
        self.rate = 0.0  # bytes/s of the head segment while active
        self.remaining = 0.0  # bytes of the head segment still to send, as of `updated`
        self.updated = 0.0
        self.version = 0  # bumps on every reschedule: stale completion events are skipped
        self.last_arrival = 0.0  # arrivals never overtake each other on one link
        self.open = True
        self.crosses = False  # set by the world while a partition separates src and dst

    def fair_rate(self) -> float:
        """The flow's rate now: the tighter of the two ends' fair shares and the loss cap."""
        if self.crosses:
            return 0.0
        src, dst = self.src, self.dst
        up = src.upload / src.flows_up if src.flows_up else src.upload
        down = dst.download / dst.flows_down if dst.flows_down else dst.download
        return min(up, down, self.loss_cap)

    def settle(self, now: float) -> None:
        """Account for the bytes sent at the old rate since the last update."""
        if self.rate:
            self.remaining = max(0.0, self.remaining - self.rate * (now - self.updated))
        self.updated = now
