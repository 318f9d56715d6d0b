"""Ask the bootstrap peers which share they serve, retrying with backoff until give-up.

The acceptor sends its handshake as soon as a connection is accepted, so reading one frame is
enough; knowing the share id before the swarm starts lets the node find a resume state file
and name the file before anything is downloaded.

A peer that is not up yet, restarting, or full is the everyday case, not a failure [BEH-14]:
refused and reset connections, timeouts and a TOO_MANY_CONNECTIONS or SHUTDOWN refusal are
retried with backoff (1, 2, 4 ... PROBE_BACKOFF_MAX s) until `give_up` seconds have passed,
with a status line saying what we wait for. A peer that answers with another share or with
garbage is set aside and the others are asked [BEH-16]; only when no peer is left does that
become the error. The final message names the real cause: a peer that was reached and said
no is not "cannot reach".
"""

from __future__ import annotations

import asyncio
import errno
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from p2pshare_core.codec import decode, encode
from p2pshare_core.constants import MAX_FRAME_LENGTH
from p2pshare_core.errors import ErrorCode, LocalProtocolError, ProtocolError
from p2pshare_core.events import Error, Handshake
from p2pshare_core.metainfo import check_geometry
from p2pshare_core.tree import check_summary

from p2pshare_node.errors import ErrorKind, NodeError

PROBE_BACKOFF_MAX = 30.0
Address = tuple[str, int]
OnWait = Callable[[str, float], None]  # (what we wait for, seconds until the next try)
Check = Callable[[Handshake], NodeError | None]  # why a handshake is unusable (None: usable)

_UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}
_TEMPORARY_CODES = {ErrorCode.TOO_MANY_CONNECTIONS, ErrorCode.SHUTDOWN, ErrorCode.TIMEOUT}


@dataclass(frozen=True)
class _Outcome:
    """Why one attempt did not give us a handshake."""

    text: str  # for humans: "connection refused", "too many connections", ...
    temporary: bool  # worth trying again later
    reached: bool  # the peer answered (it is not "unreachable")
    kind: ErrorKind = ErrorKind.UNREACHABLE


async def probe_share(
    peers: tuple[Address, ...],
    timeout: float,
    *,
    share_id: bytes | None = None,
    give_up: float | None = 0.0,
    on_wait: OnWait | None = None,
    check: Check | None = None,
) -> Handshake:
    """The handshake of the first peer serving `share_id` (any share if None).

    `give_up`: seconds to keep retrying temporary failures (0: one round; None: forever).
    `check`: what else makes a handshake unusable (an unsafe name): that peer is set aside.
    Raises NodeError when no peer can serve us.
    """
    if not peers:
        raise NodeError(ErrorKind.UNREACHABLE, "no peer to download from")
    started = time.monotonic()
    candidates = list(peers)
    last: dict[Address, _Outcome] = {}
    delay = 1.0
    while True:
        found = await _round(candidates, timeout, share_id, check, last)
        if found is not None:
            return found
        elapsed = time.monotonic() - started
        if not candidates or (give_up is not None and elapsed + delay > give_up):
            raise _final_error(last, peers, elapsed if candidates else None)
        if on_wait is not None:
            waiting = "; ".join(f"{_name(a)}: {last[a].text}" for a in candidates)
            on_wait(waiting, delay)
        await asyncio.sleep(delay)
        delay = min(PROBE_BACKOFF_MAX, delay * 2)


async def _round(
    candidates: list[Address],
    timeout: float,
    share_id: bytes | None,
    check: Check | None,
    last: dict[Address, _Outcome],
) -> Handshake | None:
    """Ask every candidate at once (a slow or silent peer does not hold up the others); the
    first usable handshake wins. Peers that cannot serve this share leave `candidates`."""

    async def ask(address: Address) -> tuple[Address, Handshake | _Outcome]:
        return address, await _attempt(address, timeout, share_id)

    tasks = [asyncio.ensure_future(ask(address)) for address in candidates]
    try:
        for next_done in asyncio.as_completed(tasks):
            address, outcome = await next_done
            if isinstance(outcome, Handshake):
                problem = check(outcome) if check is not None else None
                if problem is None:
                    return outcome
                outcome = _Outcome(problem.message, False, reached=True, kind=problem.kind)
            last[address] = outcome
            if not outcome.temporary:
                candidates.remove(address)  # set aside: it cannot serve this share
        return None
    finally:
        for task in tasks:
            task.cancel()


def _name(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _final_error(
    last: dict[Address, _Outcome], peers: tuple[Address, ...], waited: float | None
) -> NodeError:
    outcomes = [last[a] for a in peers if a in last]
    details = "; ".join(f"{_name(a)}: {last[a].text}" for a in peers if a in last)
    permanent = [o for o in outcomes if not o.temporary]
    if waited is None and permanent:  # every peer set aside: the worst reason is the kind
        kinds = [o.kind for o in permanent]
        kind = ErrorKind.SHARE_MISMATCH if ErrorKind.SHARE_MISMATCH in kinds else kinds[0]
        return NodeError(kind, f"no peer serves this share: {details}")
    prefix = f"gave up after {waited:.0f}s: " if waited else ""
    if any(o.reached for o in outcomes):
        return NodeError(ErrorKind.UNREACHABLE, f"{prefix}no peer would serve us: {details}")
    return NodeError(ErrorKind.UNREACHABLE, f"{prefix}cannot reach any peer: {details}")


async def _attempt(
    address: Address, timeout: float, share_id: bytes | None
) -> Handshake | _Outcome:
    host, port = address
    try:
        handshake = await asyncio.wait_for(_read_handshake(host, port), timeout)
    except TimeoutError:
        return _Outcome("timed out", temporary=True, reached=False)
    except ConnectionRefusedError:
        return _Outcome("connection refused (nothing listening there)", True, reached=True)
    except (ConnectionResetError, BrokenPipeError):
        return _Outcome("connection reset", temporary=True, reached=True)
    except OSError as exc:
        reached = exc.errno not in _UNREACHABLE_ERRNOS
        return _Outcome(str(exc.strerror or exc), temporary=True, reached=reached)
    except _Refused as exc:
        return _Outcome(
            f"refused: {exc.reason}", temporary=exc.temporary, reached=True, kind=ErrorKind.PROTOCOL
        )
    except NodeError as exc:
        return _Outcome(exc.message, temporary=False, reached=True, kind=exc.kind)
    if share_id is not None and handshake.share_id != share_id:
        return _Outcome(
            f"shares {handshake.share_id.hex()[:16]}..., not the link's {share_id.hex()[:16]}...",
            temporary=False,
            reached=True,
            kind=ErrorKind.SHARE_MISMATCH,
        )
    return handshake


class _Refused(Exception):
    """The peer sent an error frame instead of its handshake."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = code in _TEMPORARY_CODES


async def _read_handshake(host: str, port: int) -> Handshake:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                header = await reader.readexactly(4)
                (length,) = struct.unpack(">I", header)
                if length == 0:
                    continue
                if length > MAX_FRAME_LENGTH:
                    raise NodeError(ErrorKind.PROTOCOL, "not a p2pshare peer (frame too large)")
                body = await reader.readexactly(length)
            except asyncio.IncompleteReadError:
                raise ConnectionResetError from None  # closed before its handshake: try again
            try:
                event = decode(body[0], body[1:])
            except ProtocolError as exc:
                writer.write(encode(Error.from_exception(exc)))  # [ERR-3]: say why, then close
                raise NodeError(ErrorKind.PROTOCOL, f"not a p2pshare peer ({exc})") from None
            if isinstance(event, Handshake):
                _refuse_impossible(event, writer)
                return event
            if isinstance(event, Error):
                raise _Refused(event.code, event.reason)
            raise NodeError(ErrorKind.PROTOCOL, "the peer did not start with a handshake")
    finally:
        writer.close()


def _refuse_impossible(hs: Handshake, writer: asyncio.StreamWriter) -> None:
    """The probe is the receiver of this handshake: one no share could have (HS-9) or naming an
    unsafe file (HS-10) fails the connection with the error frame (ERR-3) before we hang up,
    so the peer learns why; checked here because the share is not known yet (HS-12)."""
    try:
        check_geometry(hs.file_size, hs.piece_size, ErrorCode.BAD_HANDSHAKE, "HS-9")
        check_summary(hs.summary)
    except LocalProtocolError as err:
        requirement = "HS-10" if err.requirement == "NAME-1" else err.requirement
        writer.write(encode(Error.build(err.code, f"[{requirement}] {err.reason}")))
        if err.code is ErrorCode.BAD_METAINFO:
            text = f"unsafe file name {hs.name!r}: {err.reason}"
            raise NodeError(ErrorKind.UNSAFE_NAME, text) from None
        raise NodeError(ErrorKind.PROTOCOL, f"impossible share geometry: {err.reason}") from None
