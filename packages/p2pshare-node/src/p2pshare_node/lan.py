"""The sockets of local peer discovery: UDP multicast on the LAN, IPv4 and IPv6 (spec LSD).

What to send and what to believe is the core's (p2pshare_core.lsd); this module joins the
groups, sends what is due, and hands every datagram in with its sender. Announces stay on the
LAN (TTL / hop limit 1) and loop back to this machine, so two nodes on one host find each other
too (a node ignores its own by the cookie). A machine without IPv6, or without a route for
multicast, simply has fewer sockets; discovery is a convenience, never a reason to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable

from p2pshare_core.lsd import LSD_GROUP_V4, LSD_GROUP_V6, LSD_PORT, LocalDiscovery

Found = Callable[[str, int], None]


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, owner: LanDiscovery) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.owner.received(data, str(addr[0]))

    def error_received(self, exc: Exception) -> None:  # (ICMP noise: nothing to do)
        pass


def _shared_udp(family: socket.AddressFamily) -> socket.socket:
    """A UDP socket several nodes on one machine can bind to the discovery port together."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def _socket_v4(port: int) -> socket.socket:
    sock = _shared_udp(socket.AF_INET)
    try:
        sock.bind(("", port))
        membership = socket.inet_aton(LSD_GROUP_V4) + socket.inet_aton("0.0.0.0")
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def _socket_v6(port: int) -> socket.socket:
    sock = _shared_udp(socket.AF_INET6)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(("::", port))
        membership = socket.inet_pton(socket.AF_INET6, LSD_GROUP_V6) + struct.pack("@I", 0)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, membership)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
    except BaseException:
        sock.close()
        raise
    return sock


class LanDiscovery:
    """Runs a LocalDiscovery on the LAN's multicast groups; `found` gets addresses to dial."""

    def __init__(self, discovery: LocalDiscovery, found: Found, port: int = LSD_PORT) -> None:
        self.discovery = discovery
        self.found = found
        self.port = port
        self._transports: list[tuple[asyncio.DatagramTransport, tuple[str, int]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> int:
        """Open what this machine allows; how many groups joined (0: discovery is off)."""
        loop = self._loop = asyncio.get_running_loop()
        for make, group in ((_socket_v4, LSD_GROUP_V4), (_socket_v6, LSD_GROUP_V6)):
            try:
                sock = make(self.port)
            except OSError:
                continue
            transport, _ = await loop.create_datagram_endpoint(lambda: _Receiver(self), sock=sock)
            self._transports.append((transport, (group, self.port)))
        self.rearm()
        return len(self._transports)

    def received(self, data: bytes, host: str) -> None:
        if self._loop is None:
            return
        address = self.discovery.datagram_received(data, host.split("%", 1)[0], self._loop.time())
        if address is not None:
            self.found(*address)
        self.rearm()  # (a seeking newcomer may have brought our next announce forward)

    def rearm(self) -> None:
        """Send what is due now and set the timer for the next announce."""
        loop = self._loop
        if loop is None or not self._transports:
            return
        packet = self.discovery.announce_due(loop.time())
        if packet is not None:
            for transport, group in self._transports:
                with contextlib.suppress(OSError):
                    transport.sendto(packet, group)
        if self._timer is not None:
            self._timer.cancel()
        when = self.discovery.get_timer()
        self._timer = None if when is None else loop.call_at(when, self.rearm)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for transport, _ in self._transports:
            transport.close()
        self._transports.clear()
        self._loop = None
