"""Share links (spec LINK-1..LINK-5)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core.link import ShareLink, parse_link

HEX = "f5" * 32


@pytest.mark.parametrize(
    ("text", "host", "port", "share"),
    [
        (f"p2pshare://192.0.2.7:6881/{HEX}", "192.0.2.7", 6881, HEX),
        (f"p2pshare://[::1]:7000/{HEX.upper()}", "::1", 7000, HEX),
        (f"P2PSHARE://example.org:1/{HEX}", "example.org", 1, HEX),
        ("example.org:6881", "example.org", 6881, None),
        ("[2001:db8::1]:6881", "2001:db8::1", 6881, None),
        ("localhost:65535", "localhost", 65535, None),
        ("10.0.0.1:00080", "10.0.0.1", 80, None),
    ],
)
def test_valid_links(text: str, host: str, port: int, share: str | None) -> None:
    link = parse_link(text)
    assert (link.host, link.port) == (host, port)
    assert link.share_id == (bytes.fromhex(share) if share else None)
    assert parse_link(str(link)) == link


@pytest.mark.parametrize(
    "text",
    [
        "http://a:1",
        "p2pshare://a:1",
        "p2pshare://a:1/",
        f"p2pshare://a:1/{HEX}0",
        f"p2pshare://a:1/{HEX[:-1]}g",
        f"p2pshare://a:1/{HEX}/x",
        f"p2pshare://a:1/{HEX}?q",
        f"p2pshare://a:1/{HEX}#f",
        f"p2pshare://user@a:1/{HEX}",
        "a:1?x",
        " a:1",
        "a: 1",
        "a:1\n",
        "::1:5",
        "[::1]5",
        "[::1:5",
        "[1.2.3.4]:5",
        "[fe80::1%eth0]:5",
        "a",
        ":5",
        "a:",
        "a:0",
        "a:65536",
        "a:+1",
        "a:-1",
        "a:123456",
        "a:0x10",
        "a:１",
        "a b:1",
        "-a:1",
    ],
)
def test_invalid_links(text: str) -> None:
    with pytest.raises(ValueError):
        parse_link(text)


def test_formatting() -> None:
    sid = bytes(range(32))
    assert str(ShareLink("::1", 5, sid)) == f"p2pshare://[::1]:5/{sid.hex()}"
    assert str(ShareLink("1.2.3.4", 5)) == "1.2.3.4:5"
    assert ShareLink("::1", 5).address == "[::1]:5"
    bad_args: list[tuple[object, ...]] = [("a", True), ("a", 1, b"x"), ("a", 0)]
    for args in bad_args:
        with pytest.raises(ValueError):
            ShareLink(*args)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(st.ip_addresses().map(str), st.sampled_from(["localhost", "a.b-c.example"])),
    st.integers(1, 65535),
    st.none() | st.binary(min_size=32, max_size=32),
)
def test_format_parse_round_trip(host: str, port: int, share: bytes | None) -> None:
    link = ShareLink(host, port, share)
    assert parse_link(str(link)) == link
