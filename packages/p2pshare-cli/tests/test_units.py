"""Sizes typed by users parse as they expect; amounts print like the progress line shows them."""

from __future__ import annotations

import pytest
from p2pshare_cli.units import format_bytes, format_duration, format_iec, parse_size


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("65536", 65536),
        ("64KiB", 65536),
        ("64k", 65536),
        ("16M", 16 << 20),
        ("1GiB", 1 << 30),
        ("1.5MB", 1_500_000),
        (" 2 mib ", 2 << 20),
    ],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "abc", "12XB", "-5", "1..2M"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_format() -> None:
    assert format_bytes(442_000_000) == "442 MB"
    assert format_bytes(1_050_000_000) == "1.05 GB"
    assert format_bytes(12) == "12 B"
    assert format_duration(75) == "1:15"
    assert format_duration(3.25) == "3.2s"
    assert format_iec(65536) == "64 KiB"
    assert format_iec(64 << 20) == "64 MiB"
    assert format_iec(1536) == "1.5 KiB"
