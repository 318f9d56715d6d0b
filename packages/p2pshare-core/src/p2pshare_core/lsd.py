"""Local peer discovery (spec section 13.1, LSD): the peers of a share on the same LAN.

A node announces, by UDP multicast on its LAN, the share IDs it serves and the TCP port it
accepts on; a node that wants one of those shares dials the sender like any other address.
In spirit this is BitTorrent's BEP 14, in a compact binary form of our own:

    <4: "P2PD"> <1: version=1> <1: flags> <8: cookie> <2: port> <1: count> <32 x count: share id>

flags bit 0 (SEEKING) marks a node that looks for these shares but cannot serve them yet (a
downloader that has only the share ID): nobody dials it, but a node that serves one of them
announces at once (at most once a second) instead of at its next interval, so a newcomer is
found in about a second, not a minute.

An announce is a hint, never trusted: the address is verified by the normal handshake (the
share ID must match, HS-14), and dialing it obeys the same limits as a PEX address. Anyone on
the LAN can send anything, so receiving costs bounded work: anything that is not exactly an
announce is dropped unparsed, each sender is heard at most once per `per_sender` seconds, the
table of senders is bounded, and an address is reported at most once per `interval`.

Sans-IO: the caller passes datagrams and the time in, and sends what `announce_due` returns.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from .constants import SHARE_ID_LENGTH

LSD_MAGIC = b"P2PD"
LSD_VERSION = 1
LSD_GROUP_V4 = "239.192.80.83"  # administratively scoped (RFC 2365), "P" "S"
LSD_GROUP_V6 = "ff15::5032:5053"  # site-local scope, transient, "P2PS"
LSD_PORT = 6882
MAX_LSD_SHARES = 16
LSD_INTERVAL = 60.0  # seconds between two announces of a node [LSD-3]
LSD_PER_SENDER = 1.0  # a sender is heard at most once per this many seconds [LSD-5]
LSD_MAX_SENDERS = 256  # senders remembered for the rate limit [LSD-5]
LSD_ANSWER_GAP = 1.0  # an answer to a seeking node comes at most once per this many seconds
SEEKING = 0x01

_HEAD = struct.Struct(">4sBB8sHB")
MAX_LSD_PACKET = _HEAD.size + SHARE_ID_LENGTH * MAX_LSD_SHARES


@dataclass(frozen=True, slots=True)
class Announce:
    """One announce: who (cookie), where (TCP port) and which shares."""

    cookie: bytes
    port: int
    share_ids: tuple[bytes, ...]
    seeking: bool = False  # looking for the shares, cannot serve them yet

    def __post_init__(self) -> None:
        if len(self.cookie) != 8:
            raise ValueError("cookie must be 8 bytes")
        if not 1 <= self.port <= 0xFFFF:
            raise ValueError("port must be 1..65535")
        if not 1 <= len(self.share_ids) <= MAX_LSD_SHARES:
            raise ValueError(f"an announce carries 1..{MAX_LSD_SHARES} share ids")
        if any(len(s) != SHARE_ID_LENGTH for s in self.share_ids):
            raise ValueError(f"share ids are {SHARE_ID_LENGTH} bytes")


def encode_announce(announce: Announce) -> bytes:
    """The datagram for `announce` [LSD-1]."""
    flags = SEEKING if announce.seeking else 0
    head = _HEAD.pack(
        LSD_MAGIC, LSD_VERSION, flags, announce.cookie, announce.port, len(announce.share_ids)
    )
    return head + b"".join(announce.share_ids)


def decode_announce(data: bytes) -> Announce | None:
    """The announce in `data`, or None for anything else [LSD-2] (never raises)."""
    if len(data) < _HEAD.size + SHARE_ID_LENGTH or len(data) > MAX_LSD_PACKET:
        return None
    magic, version, flags, cookie, port, count = _HEAD.unpack_from(data)
    if magic != LSD_MAGIC or version != LSD_VERSION or port == 0:
        return None
    if not 1 <= count <= MAX_LSD_SHARES or len(data) != _HEAD.size + SHARE_ID_LENGTH * count:
        return None
    ids = tuple(
        bytes(data[start : start + SHARE_ID_LENGTH])
        for start in range(_HEAD.size, len(data), SHARE_ID_LENGTH)
    )
    return Announce(cookie=cookie, port=port, share_ids=ids, seeking=bool(flags & SEEKING))


class LocalDiscovery:
    """One node's side of LSD: when to announce, and which heard addresses to dial."""

    def __init__(
        self,
        cookie: bytes,
        port: int,
        now: float,
        *,
        interval: float = LSD_INTERVAL,
        per_sender: float = LSD_PER_SENDER,
        max_senders: int = LSD_MAX_SENDERS,
    ) -> None:
        self.cookie = cookie
        self.port = port
        self.interval = interval
        self.per_sender = per_sender
        self.max_senders = max_senders
        self.served: tuple[bytes, ...] = ()  # what we announce
        self.wanted: frozenset[bytes] = frozenset()  # what we look for
        self._next = now
        self._last_sent = float("-inf")
        self._heard: OrderedDict[str, float] = OrderedDict()  # sender host -> last heard
        self._reported: OrderedDict[tuple[str, int], float] = OrderedDict()

    def set_shares(self, served: Iterable[bytes], wanted: Iterable[bytes], now: float) -> None:
        """What to announce and what to look for; a new share is announced at once."""
        served = tuple(served)[:MAX_LSD_SHARES]
        wanted = frozenset(wanted)
        if set(served) - set(self.served) or wanted - self.wanted:
            self._next = now
        self.served = served
        self.wanted = wanted

    def get_timer(self) -> float | None:
        return self._next if self.served or self.wanted else None

    def announce_due(self, now: float) -> bytes | None:
        """The datagram to multicast now, if one is due [LSD-3]: what we serve, or else what
        we seek."""
        if not (self.served or self.wanted) or now < self._next:
            return None
        self._next = now + self.interval
        self._last_sent = now
        if self.served:
            return encode_announce(Announce(self.cookie, self.port, self.served))
        seeking = tuple(sorted(self.wanted))[:MAX_LSD_SHARES]
        return encode_announce(Announce(self.cookie, self.port, seeking, seeking=True))

    def datagram_received(self, data: bytes, host: str, now: float) -> tuple[str, int] | None:
        """An address to dial for a share we want, or None (ignored, for any reason)."""
        last = self._heard.get(host)
        if last is not None and now - last < self.per_sender:
            return None  # [LSD-5] flooding sender: dropped before parsing
        self._heard[host] = now
        self._heard.move_to_end(host)
        while len(self._heard) > self.max_senders:
            self._heard.popitem(last=False)
        announce = decode_announce(data)
        if announce is None or announce.cookie == self.cookie:  # [LSD-2], [LSD-4]
            return None
        if announce.seeking:
            if set(self.served).intersection(announce.share_ids):  # answer soon [LSD-3]
                self._next = min(self._next, max(now, self._last_sent + LSD_ANSWER_GAP))
            return None
        if not self.wanted.intersection(announce.share_ids):
            return None
        address = (host, announce.port)
        reported = self._reported.get(address)
        if reported is not None and now - reported < self.interval:
            return None  # already handed out lately: the dialer knows it
        self._reported[address] = now
        self._reported.move_to_end(address)
        while len(self._reported) > self.max_senders:
            self._reported.popitem(last=False)
        return address
