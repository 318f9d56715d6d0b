"""Node failures the user can act on, each with a kind the CLI maps to an exit code."""

from __future__ import annotations

from enum import Enum


class ErrorKind(Enum):
    """Why a node gave up; values are stable strings used in --json output."""

    INTERNAL = "internal"
    UNREACHABLE = "unreachable"  # no bootstrap peer could be reached
    SHARE_MISMATCH = "share-mismatch"  # the peer serves a different share than the link names
    PROTOCOL = "protocol"  # the peer broke the protocol before we learned the share
    OUTPUT_EXISTS = "output-exists"  # the target file exists and --force was not given
    FILESYSTEM = "filesystem"  # disk full, unwritable directory, missing file to share
    INTEGRITY = "integrity"  # the assembled file does not match its SHA-1
    PORT_IN_USE = "port-in-use"  # cannot listen on the requested port
    UNSAFE_NAME = "unsafe-name"  # the peer announced a file name we will not write
    ALREADY_COMPLETE = "already-complete"  # not a failure: the file is there, verified
    LOCKED = "locked"  # another process is downloading the same file into the same folder


class NodeError(Exception):
    """A failure with a kind (for exit codes) and a message meant for humans."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
