"""Headless Chromium, driven over the DevTools protocol on a pipe: just enough to read a page as
a visitor would, and to see every request, console message and failure it causes.

Why not a browser-automation library: Debian's chromium is the browser (CI installs it with apt;
nothing may download a browser build), and the DevTools protocol over `--remote-debugging-pipe`
needs no port, no websocket and no dependency: JSON messages, each ended by a NUL byte, on fds 3
(to the browser) and 4 (from it). Every request the page makes is paused (`Fetch`) and allowed
only to the local server; anything else is failed and recorded, so an offline problem shows even
on a machine that is online.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMEOUT = 20.0  # seconds for any one reply or awaited event (the machine is shared and busy)


def find_chromium() -> str | None:
    """Debian's browser binary (its /usr/bin/chromium is a launcher script for it)."""
    for candidate in ("/usr/lib/chromium/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _above_9(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


@dataclass
class PageLog:
    """What one page did while it was read."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Browser:
    """One headless Chromium with one tab, which may load only URLs that start with one of
    `allowed` (the local server, the site's folder)."""

    def __init__(self, executable: str, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed
        self._profile = tempfile.TemporaryDirectory(prefix="p2pshare-docs-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # bash (dash reads single-digit fds only) moves the browser's ends to fds 3 and 4: from
        # numbers above 9, so that moving one cannot overwrite the other.
        to_browser_r = _above_9(to_browser_r)
        from_browser_w = _above_9(from_browser_w)
        argv = [
            executable,
            "--headless",
            "--remote-debugging-pipe",
            "--no-sandbox",  # (CI runs as root, where Chromium's sandbox refuses to start)
            "--disable-gpu",
            "--disable-dev-shm-usage",  # (containers often have a tiny /dev/shm)
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            f"--user-data-dir={self._profile.name}",
            "about:blank",
        ]
        shell = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self._proc = subprocess.Popen(
            ["bash", "-c", shell, *argv],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._write_lock = threading.Lock()
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.log = PageLog()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Fetch.enable", session=True, patterns=[{"urlPattern": "*"}])
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )

    # --- the pipe ------------------------------------------------------------------------------

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its reply; a protocol error raises."""
        with self._write_lock:
            self._next_id += 1
            ident = self._next_id
            self._replies[ident] = queue.Queue(maxsize=1)
        self._send({"id": ident, "method": method, "params": params}, session)
        try:
            answer = self._replies[ident].get(timeout=TIMEOUT)
        except queue.Empty:
            raise TimeoutError(f"no reply to {method} in {TIMEOUT} s") from None
        finally:
            del self._replies[ident]
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def _send(self, message: dict[str, Any], session: bool) -> None:
        if session:
            message["sessionId"] = self.session
        data = json.dumps(message).encode() + b"\0"
        with self._write_lock:
            os.write(self._to_browser, data)

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                self._dispatch(json.loads(raw))

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            waiting = self._replies.get(message["id"])
            if waiting is not None:
                waiting.put(message)
            return
        method, params = message.get("method", ""), message.get("params", {})
        if method == "Fetch.requestPaused":
            self._allow_or_block(params)
        else:
            self._record(method, params)
        self._events.put(message)

    def _allow_or_block(self, params: dict[str, Any]) -> None:
        """Runs on the reader thread: answer at once, the page is waiting for it."""
        url = params["request"]["url"]
        reply: dict[str, Any]
        if url.startswith(self.allowed) or url.startswith("data:"):
            reply = {
                "method": "Fetch.continueRequest",
                "params": {"requestId": params["requestId"]},
            }
        else:
            self.log.blocked_requests.append(url)
            reply = {
                "method": "Fetch.failRequest",
                "params": {"requestId": params["requestId"], "errorReason": "BlockedByClient"},
            }
        with self._write_lock:
            self._next_id += 1
            reply["id"] = self._next_id
        self._send(reply, session=True)

    def _record(self, method: str, params: dict[str, Any]) -> None:
        log = self.log
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
            log.console_errors.append("console: " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            log.console_errors.append("exception: " + text)
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            log.console_errors.append(f"log: {entry['text']} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            log.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            log.failed_requests.append(f"{params.get('errorText')} ({params['requestId']})")
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            response = params["response"]
            log.failed_requests.append(f"HTTP {response['status']} {response['url']}")

    # --- reading pages -------------------------------------------------------------------------

    def open(self, url: str) -> PageLog:
        """Navigate, wait for the load event; the log of this page only."""
        self.log = PageLog()
        self._drain()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for_event("Page.loadEventFired")
        return self.log

    def _drain(self) -> None:
        while True:
            try:
                self._events.get_nowait()
            except queue.Empty:
                return

    def wait_for_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self._events.get(timeout=left)
            except queue.Empty:
                break
            if message.get("method") == method:
                return message
        raise TimeoutError(f"no {method} in {TIMEOUT} s")

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", session=True, expression=expression, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, what: str) -> Any:
        """Poll a JS expression until it is truthy (bounded): the page renders asynchronously."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{what}: not true after {TIMEOUT} s: {expression}")

    def flat_nodes(self) -> Iterator[dict[str, Any]]:
        """Every DOM node, shadow trees included (Material draws diagrams in closed shadow roots,
        which page scripts cannot see)."""
        root = self.call("DOM.getDocument", session=True, depth=-1, pierce=True)["root"]
        stack = [root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.get("children", []))
            stack.extend(node.get("shadowRoots", []))
            if "contentDocument" in node:
                stack.append(node["contentDocument"])

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            self.call("Browser.close")
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)
        self._reader.join(5)
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()
