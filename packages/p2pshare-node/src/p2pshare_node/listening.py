"""The listening sockets, with the errors a user can act on (port in use, bad host).

By default a node listens on every interface, IPv4 and IPv6, so that peers on other machines can
reach it (a node listening on loopback only can share with nobody but itself). asyncio's
`create_server(host=None, port=0)` would give each address family its own random port, and a
link can name only one, so the IPv4 socket is bound first and the IPv6 one (IPV6_V6ONLY, so the
two never overlap) then takes the same port; a machine without IPv6 simply has one socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import sys
from collections.abc import Callable

from p2pshare_node.errors import ErrorKind, NodeError

ALL_INTERFACES = None
"""The `host` meaning "every interface, IPv4 and IPv6" (the default)."""


class Listener:
    """One or two asyncio servers (IPv4, IPv6) on the same port, used as one."""

    def __init__(self, servers: list[asyncio.Server]) -> None:
        self._servers = servers
        self.port = int(servers[0].sockets[0].getsockname()[1])

    async def start_serving(self) -> None:
        for server in self._servers:
            await server.start_serving()

    def close(self) -> None:
        for server in self._servers:
            server.close()

    async def wait_closed(self) -> None:
        for server in self._servers:
            await server.wait_closed()


def _port_in_use(host: str, port: int, exc: OSError) -> NodeError:
    if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
        return NodeError(ErrorKind.PORT_IN_USE, f"port {port} on {host} is in use")
    return NodeError(
        ErrorKind.PORT_IN_USE, f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    )


def _bound(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sys.platform != "win32":  # (on Windows SO_REUSEADDR would let others steal the port)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def open_listener(
    factory: Callable[[], asyncio.BaseProtocol], host: str | None, port: int
) -> Listener:
    """Servers on host:port (host None: every interface) that do not accept yet ([HS-17]:
    only once the share's summary is known, the caller calls start_serving)."""
    loop = asyncio.get_running_loop()
    if host is not ALL_INTERFACES:
        try:
            server = await loop.create_server(factory, host, port, start_serving=False)
        except OSError as exc:
            raise _port_in_use(host, port, exc) from None
        return Listener([server])
    try:
        v4 = _bound(socket.AF_INET, "0.0.0.0", port)
    except OSError as exc:
        raise _port_in_use("every interface", port, exc) from None
    socks = [v4]
    if socket.has_ipv6:
        with contextlib.suppress(OSError):  # no IPv6 on this machine: IPv4 alone is fine
            socks.append(_bound(socket.AF_INET6, "::", v4.getsockname()[1]))
    servers = []
    try:
        for sock in socks:
            servers.append(await loop.create_server(factory, sock=sock, start_serving=False))
    except OSError as exc:
        for server in servers:
            server.close()
        raise _port_in_use("every interface", port, exc) from None
    return Listener(servers)
