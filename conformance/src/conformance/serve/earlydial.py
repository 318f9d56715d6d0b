"""The early dialer of `serve --scenario early-dial`: a peer that reaches the downloader's port
before the downloader can know the share (HS-19).

The entry peer answers the downloader's connection as a slow acceptor would, its handshake a
moment late; meanwhile this peer dials the port the downloader was told to listen on. A node
that does not listen yet refuses the dial (allowed: it is retried through the window); one that
listens holds the connection in its accept queue and, once the entry peer's handshake taught it
the share, accepts it and sends its handshake first (HS-11). What it must not do is accept the
connection early and then refuse or drop it for not knowing the share.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from p2pshare_core.connection import Connection
from p2pshare_core.errors import ErrorCode, RemoteProtocolError
from p2pshare_core.events import NEED_DATA, ConnectionClosed, Error, Handshake
from p2pshare_core.states import Role

FIRST_FRAME_WAIT = 5.0  # seconds an accepted early connection may wait for the handshake
RETRY = 0.05  # seconds between two dials the downloader refused


class EarlyDialer:
    """Dials host:port until a connection is accepted, then records what came first on it."""

    def __init__(self, host: str, port: int, share_id: bytes) -> None:
        self.host = host
        self.port = port
        self.share_id = share_id
        self.result: str | None = None  # "handshake", or what came instead
        self.refused = 0  # dials the downloader refused (not listening yet)

    async def run(self, window_open: Callable[[], bool]) -> None:
        """Dial while `window_open()` (the downloader cannot know the share yet)."""
        while self.result is None and window_open():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), 0.5
                )
            except (OSError, TimeoutError):
                self.refused += 1
                await asyncio.sleep(RETRY)
                continue
            try:
                self.result = await self._first_frame(reader)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def _first_frame(self, reader: asyncio.StreamReader) -> str:
        conn = Connection(Role.DIALER, self.share_id)
        deadline = time.monotonic() + FIRST_FRAME_WAIT
        while True:
            try:
                data = await asyncio.wait_for(reader.read(1 << 16), deadline - time.monotonic())
            except (TimeoutError, ValueError):
                return f"nothing within {FIRST_FRAME_WAIT:g}s"
            except OSError as exc:
                return f"connection reset ({exc})"
            conn.receive_data(data)
            try:
                event = conn.next_event()
            except RemoteProtocolError as err:
                return f"a frame breaking {err.requirement}: {err.reason}"
            if event is NEED_DATA:
                if not data:
                    return "closed without a frame"
                continue
            if isinstance(event, Handshake):
                return "handshake"
            if isinstance(event, Error):
                return f"error {_code_name(event.code)}: {event.reason}"
            if isinstance(event, ConnectionClosed):
                return "closed without a frame"
            return f"{type(event).__name__} before any handshake"


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)
