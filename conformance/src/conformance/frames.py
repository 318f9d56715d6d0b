"""Turning the target's bytes into named, JSON-friendly frames.

Payloads are decoded with the core codec (the model of the spec), so a frame the codec refuses
is reported as the target breaking the requirement the codec cites.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

from p2pshare_core import codec
from p2pshare_core import constants as C
from p2pshare_core.errors import RemoteProtocolError

from conformance.craft import MESSAGE_NAMES, message_name

HARMLESS = ("keepalive", "have", "peers", "choke", "unchoke", "interested", "not_interested")
"""Frames a target may send at any time in ACTIVE; skipped while waiting for a reply."""


@dataclass
class Received:
    """One frame from the target."""

    name: str
    fields: dict[str, Any]
    raw: bytes
    event: object | None = field(default=None, repr=False)

    def describe(self) -> str:
        inner = ", ".join(f"{k}={_short(v)}" for k, v in self.fields.items())
        return f"{self.name}({inner})"


class BadFrame(Exception):
    """The target sent bytes the codec rejects."""

    def __init__(self, message: str, requirement: str) -> None:
        super().__init__(message)
        self.requirement = requirement


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 70 else text[:67] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def event_fields(event: object) -> dict[str, Any]:
    """Fields of a core event as JSON values; piece data becomes its length and SHA-256."""
    out: dict[str, Any] = {}
    if not dataclasses.is_dataclass(event):
        return out
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.name == "data" and isinstance(value, bytes):
            out["length"] = len(value)
            out["data_sha256"] = hashlib.sha256(value).hexdigest()
        else:
            out[f.name] = _jsonable(value)
    return out


def decode_frame(message_id: int | None, payload: bytes, raw: bytes) -> Received:
    """Decode one complete frame (message_id None = keepalive)."""
    if message_id is None:
        return Received("keepalive", {}, raw)
    if message_id not in MESSAGE_NAMES:
        return Received(message_name(message_id), {"payload_length": len(payload)}, raw)
    try:
        event = codec.decode(message_id, payload)
    except RemoteProtocolError as exc:
        raise BadFrame(
            f"target sent a {message_name(message_id)} frame the spec forbids: {exc}",
            exc.requirement,
        ) from exc
    entries = getattr(event, "entries", None)
    if message_id == 0x0B and entries is not None and len(entries) > C.MAX_PEX_ENTRIES:
        raise BadFrame(f"target sent a peers message with {len(entries)} entries", "PEX-1")
    return Received(MESSAGE_NAMES[message_id], event_fields(event), raw, event)


def piece_data(received: Received) -> bytes:
    """The data bytes of a decoded piece frame."""
    data = getattr(received.event, "data", None)
    if not isinstance(data, bytes):
        raise TypeError("not a piece frame")
    return data
