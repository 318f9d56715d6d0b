"""The CLI's malloc thresholds: taken on glibc, a no-op elsewhere, never an error."""

from __future__ import annotations

import platform

import pytest
from p2pshare_cli import allocator


def test_glibc_takes_the_thresholds() -> None:
    on_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert allocator.tune_allocator() is on_glibc


def test_other_systems_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.platform, "system", lambda: "Darwin")
    assert allocator.tune_allocator() is False


def test_a_libc_without_mallopt_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMallopt:
        def __init__(self, name: object) -> None:
            pass

    monkeypatch.setattr(allocator.platform, "system", lambda: "Linux")
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setattr(allocator.ctypes, "CDLL", NoMallopt)
    assert allocator.tune_allocator() is False
