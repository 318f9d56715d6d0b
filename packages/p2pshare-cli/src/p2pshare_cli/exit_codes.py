"""Exit codes of the p2pshare command: one per kind of failure a user (or script) can act on."""

from __future__ import annotations

from enum import IntEnum

from p2pshare_node.errors import ErrorKind


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: please report it
    USAGE = 2  # bad option or argument (click's convention), malformed link
    UNREACHABLE = 3  # no peer could be reached
    PEER = 4  # share id mismatch, peer broke the protocol, unsafe name from a peer
    OUTPUT_EXISTS = 5  # output file exists, --force not given
    FILESYSTEM = 6  # missing input, unwritable directory, disk full
    INTEGRITY = 7  # the downloaded file failed verification
    PORT_IN_USE = 8  # cannot listen on the requested port
    LOCKED = 9  # another p2pshare is downloading the same file into the same folder
    INTERRUPTED = 130  # Ctrl-C during a download (the state is saved; run again to resume)
    TERMINATED = 143  # SIGTERM during a download (handled like Ctrl-C: state saved, peers told)


EXIT_FOR_KIND: dict[ErrorKind, ExitCode] = {
    ErrorKind.INTERNAL: ExitCode.INTERNAL,
    ErrorKind.UNREACHABLE: ExitCode.UNREACHABLE,
    ErrorKind.SHARE_MISMATCH: ExitCode.PEER,
    ErrorKind.PROTOCOL: ExitCode.PEER,
    ErrorKind.UNSAFE_NAME: ExitCode.PEER,
    ErrorKind.OUTPUT_EXISTS: ExitCode.OUTPUT_EXISTS,
    ErrorKind.FILESYSTEM: ExitCode.FILESYSTEM,
    ErrorKind.INTEGRITY: ExitCode.INTEGRITY,
    ErrorKind.PORT_IN_USE: ExitCode.PORT_IN_USE,
    ErrorKind.LOCKED: ExitCode.LOCKED,
    ErrorKind.ALREADY_COMPLETE: ExitCode.OK,
}

EPILOG = """\b
Exit codes:
  0    success (get: file complete and verified; share: stopped with Ctrl-C)
  1    internal error (a bug)
  2    usage error: bad option, malformed link or size
  3    no peer reachable
  4    peer problem: share id mismatch, protocol violation, unsafe file name
  5    output file already exists (use --force)
  6    file system: missing file, unwritable directory, not enough free space
  7    integrity failure: the downloaded file does not match its SHA-1
  8    port already in use
  9    another p2pshare is downloading the same file into the same folder
  130  interrupted by Ctrl-C (get: progress saved, run again to resume)
  143  terminated by SIGTERM, handled like Ctrl-C (get: progress saved)
"""
