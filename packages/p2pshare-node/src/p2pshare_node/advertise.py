"""Which address to put in the link a node prints: one that another machine can reach.

A node listening on every interface knows no single address of its own. The best guess for
"the address others on my network use" is the address of the interface that holds the default
route: the kernel picks it when a UDP socket is connected to an outside address, and connecting
a UDP socket only consults the routing table, it sends no packet. Without a default route (an
isolated LAN) any other non-loopback address will do; loopback is the last resort, and then the
link only works on this machine, which the user is told. `--advertise` overrides the guess (port
forwarding, NAT, or a machine with several networks).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from dataclasses import dataclass

# Documentation addresses (RFC 5737, RFC 3849): never on a real network, so a connect() to
# them is only a routing-table lookup. No packet is sent to them.
_PROBES = ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1"))


@dataclass(frozen=True)
class Advertised:
    """The host to print in links, and a note for the user when the choice is a poor one."""

    host: str
    note: str | None = None


def _usable(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return not (
        address.is_loopback
        or address.is_unspecified
        or address.is_link_local
        or address.is_multicast
    )


def _default_route_address() -> str | None:
    for family, probe in _PROBES:
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((probe, 9))
            host = str(sock.getsockname()[0])
            if _usable(host):
                return host
    return None


def _any_interface_address() -> str | None:
    with contextlib.suppress(OSError):
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None):
            host = str(sockaddr[0])
            if _usable(host):
                return host
    return None


def reachable_host(listen_host: str | None, advertise: str | None = None) -> Advertised:
    """The host for this node's links, given where it listens (None = every interface)."""
    if advertise:
        return Advertised(advertise)
    if listen_host not in (None, "", "0.0.0.0", "::"):
        assert listen_host is not None
        if _usable(listen_host) or not _is_ip(listen_host):
            return Advertised(listen_host)
        return Advertised(
            listen_host, f"listening on {listen_host} only: this link works on this machine only"
        )
    host = _default_route_address() or _any_interface_address()
    if host is not None:
        return Advertised(host)
    return Advertised(
        "127.0.0.1",
        "no network address found: this link works on this machine only "
        "(use --advertise HOST to print another)",
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
