"""Child processes with a deadline, timestamped output lines and resource usage.

CPU seconds come from wait4 (exact, for a child that exited) or psutil/proc for a live one.
Peak RSS comes from sampling /proc/PID/status VmHWM (the kernel's own high-water mark of the
process's address space) every 20 ms: wait4's ru_maxrss is unusable on Linux because it keeps the
*parent's* high-water mark from before exec (vfork/fork share or copy the harness's pages).
Elsewhere, ru_maxrss (macOS) or psutil RSS samples (Windows) stand in.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

try:
    import psutil
except ImportError:  # the bench still runs; only running-process CPU/RSS samples are lost
    psutil = None

HAS_WAIT4 = hasattr(os, "wait4")


@dataclass
class Exit:
    """How and when a child ended; rusage fields are None where the OS cannot tell."""

    at: float
    code: int
    peak_rss: int | None
    cpu: float | None


@dataclass
class Line:
    at: float
    text: str


@dataclass(eq=False)
class Proc:
    """A running child; `changed` is notified on every output line and on exit."""

    name: str
    argv: Sequence[str]
    log_path: Path
    changed: threading.Condition
    popen: subprocess.Popen[bytes] = field(init=False)
    started: float = field(init=False)
    lines: list[Line] = field(default_factory=list)
    exit: Exit | None = None
    marker_at: float | None = None
    marker_cpu: float | None = None
    is_marker: Callable[[str], bool] | None = None
    sampled_peak_rss: int = 0
    hwm_source: bool = False

    def start(self, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in _reap
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            list(self.argv),
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
        threading.Thread(target=self._read, daemon=True, name=f"{self.name}-out").start()
        threading.Thread(target=self._reap, daemon=True, name=f"{self.name}-reap").start()
        threading.Thread(target=self._sample, daemon=True, name=f"{self.name}-rss").start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            now = time.monotonic()
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self.changed:
                self.lines.append(Line(now, text))
                if self.marker_at is None and self.is_marker is not None and self.is_marker(text):
                    self.marker_at = now
                    self.marker_cpu = cpu_seconds(self.popen.pid)
                self.changed.notify_all()

    def _reap(self) -> None:
        if HAS_WAIT4:
            _, status, ru = os.wait4(self.popen.pid, 0)
            at = time.monotonic()
            code = os.waitstatus_to_exitcode(status)
            self.popen.returncode = code
            scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB else
            rss: int | None = self.sampled_peak_rss if self.hwm_source else ru.ru_maxrss * scale
            cpu: float | None = ru.ru_utime + ru.ru_stime
        else:
            code = self.popen.wait()
            at = time.monotonic()
            rss, cpu = (self.sampled_peak_rss or None), self.marker_cpu
        self._log.close()
        with self.changed:
            self.exit = Exit(at, code, rss, cpu)
            self.changed.notify_all()

    def _sample(self) -> None:
        status = Path(f"/proc/{self.popen.pid}/status")
        if status.exists():
            self.hwm_source = True
            while self.exit is None:
                hwm = read_hwm(status)
                if hwm is None:
                    return
                self.sampled_peak_rss = max(self.sampled_peak_rss, hwm)
                time.sleep(0.02)
        elif psutil is not None and not HAS_WAIT4:
            with contextlib.suppress(Exception):
                proc = psutil.Process(self.popen.pid)
                while self.exit is None:
                    self.sampled_peak_rss = max(self.sampled_peak_rss, proc.memory_info().rss)
                    time.sleep(0.05)

    @property
    def finished_at(self) -> float | None:
        """When the child reported success: its marker line, or a clean exit."""
        if self.marker_at is not None:
            return self.marker_at
        if self.exit is not None and self.exit.code == 0:
            return self.exit.at
        return None

    def stop(self, grace: float = 3.0) -> Exit:
        """Ask politely (SIGINT, like Ctrl-C), then kill; always returns the Exit record."""
        if self.exit is None:
            hwm = read_hwm(Path(f"/proc/{self.popen.pid}/status"))
            self.sampled_peak_rss = max(self.sampled_peak_rss, hwm or 0)
            self._signal(signal.SIGINT if sys.platform != "win32" else signal.SIGTERM)
            if not self.wait_exit(time.monotonic() + grace):
                self._signal(signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)
                self.wait_exit(time.monotonic() + 10)
        assert self.exit is not None, f"{self.name} did not die"
        return self.exit

    def _signal(self, sig: int) -> None:
        """os.kill, not Popen.send_signal: Popen would poll() and steal the wait4 rusage."""
        if HAS_WAIT4:
            with self.changed:
                if self.exit is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.popen.pid, sig)
        else:
            with contextlib.suppress(OSError):
                self.popen.terminate()

    def wait_exit(self, deadline: float) -> bool:
        with self.changed:
            while self.exit is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.5))
        return True

    def wait_line(self, pred: Callable[[str], bool], deadline: float) -> Line | None:
        """First line matching pred, or None when the deadline passes or the child exits."""
        seen = 0
        with self.changed:
            while True:
                for line in self.lines[seen:]:
                    if pred(line.text):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.exit is not None:
                    return None
                self.changed.wait(min(left, 0.5))

    def stderr_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""


def cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds of a live process so far (psutil, else /proc, else None)."""
    if psutil is not None:
        try:
            t = psutil.Process(pid).cpu_times()
            return float(t.user + t.system)
        except Exception:
            return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def rss_bytes(pid: int) -> int | None:
    if psutil is None:
        return None
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except Exception:
        return None


def read_hwm(status: Path) -> int | None:
    """VmHWM (peak RSS) in bytes from /proc/PID/status, None once the process is gone."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
