"""Error codes and the two protocol exceptions (h11 style).

`LocalProtocolError`: *we* (the caller) tried something the protocol forbids.
`RemoteProtocolError`: the *peer* sent something the protocol forbids; the right reaction is to
send an `Error(code, reason)` frame and close. Both carry the wire `code` and the spec
requirement ID they enforce, so logs and conformance reports can point at the spec.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Wire error codes carried by the `error` message."""

    MALFORMED = 1
    FRAME_TOO_LARGE = 2
    UNEXPECTED_MESSAGE = 3
    BAD_HANDSHAKE = 4
    UNSUPPORTED_VERSION = 5
    SHARE_MISMATCH = 6
    OUT_OF_RANGE = 7
    UNSOLICITED = 8
    TOO_MANY_REQUESTS = 9
    PEX_VIOLATION = 10
    DUPLICATE_CONNECTION = 11
    SELF_CONNECTION = 12
    BAD_METAINFO = 13
    TIMEOUT = 14
    BANNED = 15
    SHUTDOWN = 16
    TOO_MANY_CONNECTIONS = 17
    TRUNCATED = 18


class ProtocolError(Exception):
    """A protocol rule was broken. Do not raise this directly; use a subclass."""

    code: ErrorCode
    requirement: str
    reason: str

    def __init__(self, code: ErrorCode, requirement: str, reason: str) -> None:
        if type(self) is ProtocolError:
            raise TypeError("raise LocalProtocolError or RemoteProtocolError, not ProtocolError")
        super().__init__(code, requirement, reason)
        self.code = ErrorCode(code)
        self.requirement = requirement
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code.name} [{self.requirement}]: {self.reason}"


class LocalProtocolError(ProtocolError):
    """The caller tried to send or build something the protocol forbids."""

    def as_remote(self) -> RemoteProtocolError:
        """The same error blaming the peer: a value rejected while parsing peer bytes is theirs."""
        err = RemoteProtocolError(self.code, self.requirement, self.reason)
        err.__cause__ = self
        return err


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids: send `Error(code, reason)` and close."""
