"""Every event of a node, and a wait for the first matching one (tests synchronise on events,
never on sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from p2pshare_node import events as ev
from p2pshare_node.node import Node


class Recorder:
    """Keeps every event of a node and lets a test wait for the one it needs."""

    def __init__(self, node: Node) -> None:
        self.events: list[ev.NodeEvent] = []
        self._changed = asyncio.Event()
        node.add_listener(self._add)

    def _add(self, event: ev.NodeEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type[ev.NodeEvent]) -> list[ev.NodeEvent]:
        return [e for e in self.events if isinstance(e, kind)]

    async def wait(
        self, what: type[ev.NodeEvent] | Callable[[ev.NodeEvent], bool], timeout: float
    ) -> ev.NodeEvent:
        """The first event of a kind (or matching a predicate), within timeout seconds."""
        match = (lambda e: isinstance(e, what)) if isinstance(what, type) else what
        async with asyncio.timeout(timeout):
            while True:
                found = [e for e in self.events if match(e)]
                if found:
                    return found[0]
                self._changed.clear()
                await self._changed.wait()
