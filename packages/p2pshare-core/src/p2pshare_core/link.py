"""Share links: ``p2pshare://HOST:PORT/SHAREIDHEX`` (or plain ``HOST:PORT`` to ask the peer).

A link is everything a downloader needs: where one peer listens and, optionally, which share
to fetch (without it, the peer's handshake tells).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from .constants import SHARE_ID_LENGTH

__all__ = ["SCHEME", "ShareLink", "parse_link"]

SCHEME = "p2pshare://"
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_HEX_ID = re.compile(rf"^[0-9A-Fa-f]{{{2 * SHARE_ID_LENGTH}}}$")


def _check_host(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            raise ValueError(f"invalid host {host!r}: zone ids are not allowed in links")
        return str(address)
    if not _HOSTNAME.fullmatch(host):
        raise ValueError(f"invalid host {host!r}: expected an IP address or a host name")
    return host


@dataclass(frozen=True, slots=True)
class ShareLink:
    """Where to find a peer and (optionally) which share to ask it for."""

    host: str
    port: int
    share_id: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", _check_host(self.host))
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ValueError(f"port must be an int, not {type(self.port).__name__}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be 1..65535, got {self.port}")
        if self.share_id is not None and (
            not isinstance(self.share_id, bytes) or len(self.share_id) != SHARE_ID_LENGTH
        ):
            raise ValueError(f"share id must be {SHARE_ID_LENGTH} bytes")

    @property
    def address(self) -> str:
        """HOST:PORT with IPv6 hosts in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        if self.share_id is None:
            return self.address
        return f"{SCHEME}{self.address}/{self.share_id.hex()}"


def _split_address(text: str) -> tuple[str, int]:
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"invalid address {text!r}: missing ']' after IPv6 host")
        host, rest = text[1:close], text[close + 1 :]
        if ":" not in host:
            raise ValueError(f"invalid address {text!r}: only IPv6 hosts go in brackets")
        if not rest.startswith(":"):
            raise ValueError(f"invalid address {text!r}: expected ':PORT' after ']'")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"invalid address {text!r}: expected HOST:PORT")
        if ":" in host:
            raise ValueError(f"invalid address {text!r}: put an IPv6 host in brackets, [::1]:PORT")
    if not host:
        raise ValueError(f"invalid address {text!r}: empty host")
    if not (1 <= len(port_text) <= 5 and port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"invalid port {port_text!r} in {text!r}: expected 1..65535 (LINK-3)")
    return host, int(port_text)


def parse_link(text: str) -> ShareLink:
    """Parse a share link or a plain HOST:PORT; ValueError with a clear message if invalid.

    Follows spec LINK-1..LINK-5 exactly: no surrounding whitespace is stripped (callers that
    read user input may strip it first), and a ``p2pshare://`` link must carry a share ID.
    """
    if any(c.isspace() for c in text):
        raise ValueError(f"invalid link {text!r}: whitespace is not allowed (LINK-5)")
    share_id: bytes | None = None
    if text.lower().startswith(SCHEME):
        rest = text[len(SCHEME) :]
        address, slash, id_text = rest.partition("/")
        if not slash or not id_text:
            raise ValueError(
                f"invalid link {text!r}: expected {SCHEME}HOST:PORT/SHAREID "
                "(use plain HOST:PORT to learn the share from the peer) (LINK-5)"
            )
        if not _HEX_ID.fullmatch(id_text):
            raise ValueError(
                f"invalid share id {id_text!r}: expected {2 * SHARE_ID_LENGTH} hex digits (LINK-4)"
            )
        share_id = bytes.fromhex(id_text)
    elif "://" in text:
        raise ValueError(f"unsupported link {text!r}: expected {SCHEME}HOST:PORT/SHAREID")
    else:
        address = text
    host, port = _split_address(address)
    return ShareLink(host, port, share_id)
