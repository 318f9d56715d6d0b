"""Run `p2pshare ... --json` as a child process and follow its event stream.

Used by `p2pshare demo` and by the end-to-end tests: both start real peers as separate
processes (portably: `sys.executable -m p2pshare_cli`) and wait on real events with a deadline,
never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

Event = dict[str, Any]
MAX_STDERR = 64 * 1024
MAX_TEXT_LINES = 10_000


class ProcessFailed(Exception):
    """The child exited (or the deadline passed) before the awaited event arrived."""


class PeerProcess:
    """One `p2pshare` child with --json output parsed into a growing list of events."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        cwd: str | None = None,
        notify: asyncio.Event | None = None,
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.notify = notify  # set on every event of this process (to watch several at once)
        self.args = list(args)
        self.cwd = cwd
        self.extra_env = dict(env or {})
        self.prefix = list(prefix)  # e.g. ["ip", "netns", "exec", HOST]: run it elsewhere
        self.events: list[Event] = []
        self.text: list[str] = []  # stdout lines that are not JSON events (human output)
        self.stderr = ""
        self.proc: asyncio.subprocess.Process | None = None
        self._changed = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []
        self.on_event: Callable[[PeerProcess, Event], None] | None = None

    async def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.extra_env)
        self.proc = await asyncio.create_subprocess_exec(
            *self.prefix,
            sys.executable,
            "-m",
            "p2pshare_cli",
            *self.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.cwd,
            env=env,
        )
        self._readers = [
            asyncio.create_task(self._read_events()),
            asyncio.create_task(self._read_stderr()),
        ]

    async def _read_events(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("{"):
                if len(self.text) < MAX_TEXT_LINES:
                    self.text.append(line)
                    self._changed.set()
                    if self.notify is not None:
                        self.notify.set()
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            self.events.append(event)
            if self.on_event is not None:
                self.on_event(self, event)
            self._changed.set()
            if self.notify is not None:
                self.notify.set()
        self._changed.set()
        if self.notify is not None:
            self.notify.set()

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            if len(self.stderr) < MAX_STDERR:
                self.stderr += raw.decode("utf-8", "replace")

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    def first(self, kind: str) -> Event | None:
        return next((e for e in self.events if e.get("event") == kind), None)

    def all(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.get("event") == kind]

    async def wait_for(
        self,
        kind: str,
        timeout: float,
        predicate: Callable[[Event], bool] | None = None,
        since: int = 0,
    ) -> Event:
        """The first event of this kind (matching predicate, at index >= since), within timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = since
        while True:
            for event in self.events[seen:]:
                if event.get("event") == kind and (predicate is None or predicate(event)):
                    return event
                if event.get("event") == "error":
                    raise ProcessFailed(f"{self.name}: error event {event}\n{self.stderr}")
            seen = len(self.events)
            stdout_done = self._readers and self._readers[0].done()
            if stdout_done:
                raise ProcessFailed(
                    f"{self.name} exited ({self.returncode}) before {kind!r}\n{self.stderr}"
                )
            left = deadline - loop.time()
            if left <= 0:
                raise ProcessFailed(f"{self.name}: no {kind!r} within {timeout}s\n{self.stderr}")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        for reader in self._readers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader, 5)
        return code

    @property
    def exited(self) -> bool:
        """The event stream has ended (the process exited or closed stdout)."""
        return bool(self._readers) and self._readers[0].done()

    def interrupt(self) -> None:
        """Ctrl-C (SIGINT; POSIX only): the node saves its state and exits."""
        import signal

        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)

    def kill(self) -> None:
        """Hard kill (SIGKILL on POSIX, TerminateProcess on Windows): simulates a crash."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def stop(self, timeout: float = 10.0) -> None:
        """Terminate and reap the child (and the reader tasks)."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        for reader in self._readers:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def wait_until(
    condition: Callable[[], bool], notify: asyncio.Event, timeout: float, what: str
) -> None:
    """Wait until condition() holds, re-checking whenever any watched process reports an event."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        left = deadline - loop.time()
        if left <= 0:
            raise ProcessFailed(f"timed out after {timeout}s waiting for {what}")
        notify.clear()
        if condition():
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(notify.wait(), left)
