"""Opening the listening socket, with the errors a user can act on (port in use, bad host)."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable

from p2pshare_node.errors import ErrorKind, NodeError


async def open_listener(
    factory: Callable[[], asyncio.BaseProtocol], host: str, port: int
) -> asyncio.Server:
    """A server on host:port that does not accept yet ([HS-17]: only once the share's
    summary is known, the caller calls start_serving)."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.create_server(factory, host, port, start_serving=False)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
            raise NodeError(ErrorKind.PORT_IN_USE, f"port {port} on {host} is in use") from None
        raise NodeError(
            ErrorKind.PORT_IN_USE, f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
