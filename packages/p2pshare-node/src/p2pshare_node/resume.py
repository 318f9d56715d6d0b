"""The resume state file: a small JSON document beside NAME.part saying which pieces are verified.

It is written atomically (temp file + os.replace) so a crash or power loss leaves either the
old or the new state, never half of one. It is a hint, not a trust anchor: on restart every
listed piece is re-hashed against the metainfo before it counts as had.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from p2pshare_core.metainfo import Metainfo

from p2pshare_node.paths import STATE_SUFFIX
from p2pshare_node.ranges import format_ranges, parse_ranges
from p2pshare_node.safeio import open_for_writing, remove_quietly

STATE_VERSION = 1
MAX_STATE_BYTES = 64 * 1024 * 1024  # a metainfo of 131 072 pieces is ~4 MiB, base64 ~6 MiB
MAX_STATE_FILES_SCANNED = 1000


class BadStateError(ValueError):
    """The state file is unreadable or does not describe a consistent download."""


@dataclass(frozen=True)
class ResumeState:
    metainfo: Metainfo
    link: str
    verified: Collection[int]  # a frozenset, or the node's PieceFlags (compact for big shares)

    @property
    def share_id(self) -> bytes:
        return self.metainfo.share_id

    def to_json(self) -> str:
        return b"".join(self._json_parts()).decode("utf-8")

    def _json_parts(self) -> Iterator[bytes]:
        """The JSON document in pieces, the base64 metainfo in slices of 48 KiB.

        The state is saved every second during a download and the metainfo of a big share is
        megabytes: written slice by slice, it never exists as one more big string (base64
        needs no JSON escaping, so the slices go out as they are).
        """
        meta = self.metainfo
        doc = {
            "version": STATE_VERSION,
            "share_id": meta.share_id.hex(),
            "link": self.link,
            "name": meta.name,
            "size": meta.file_size,
            "piece_size": meta.piece_size,
            "pieces": meta.piece_count,
            "verified": format_ranges(self.verified),
        }
        head = json.dumps(doc, indent=2)
        assert head.endswith("\n}")
        yield (head[:-2] + ',\n  "metainfo": "').encode("utf-8")
        encoded = meta.encode()
        for start in range(0, len(encoded), _BASE64_SLICE):
            yield base64.b64encode(encoded[start : start + _BASE64_SLICE])
        yield b'"\n}\n'

    @classmethod
    def from_json(cls, text: str) -> ResumeState:
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
                raise BadStateError("unknown state file version")
            raw = base64.b64decode(doc["metainfo"], validate=True)
            metainfo = Metainfo.decode(raw)
            if doc["share_id"] != metainfo.share_id.hex():
                raise BadStateError("share id does not match the stored metainfo")
            verified = parse_ranges(str(doc["verified"]), metainfo.piece_count)
            link = str(doc.get("link", ""))
        except BadStateError:
            raise
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise BadStateError(f"malformed state file: {exc}") from None
        except Exception as exc:  # Metainfo.decode raises the core's protocol error
            raise BadStateError(f"bad metainfo in state file: {exc}") from None
        return cls(metainfo=metainfo, link=link, verified=frozenset(verified))


_BASE64_SLICE = 3 * 16384  # a multiple of 3: the slices' base64 concatenates without padding


def save_state(path: Path, state: ResumeState) -> None:
    """Write the state atomically: a reader sees the old or the new file, never a torn one.

    The temporary file is created exclusively and without following links (safeio), so a
    symlink planted at its (predictable) name is never written through; os.replace then swaps
    the name itself, never what a link there points to.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    parts = state._json_parts()
    remove_quietly(tmp)  # a leftover of an earlier crash of a process with our pid, or a trap
    try:
        with os.fdopen(open_for_writing(tmp, exclusive=True), "wb") as fh:
            fh.writelines(parts)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise


def load_state(path: Path) -> ResumeState:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_STATE_BYTES + 1)
    except OSError as exc:
        raise BadStateError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_STATE_BYTES:
        raise BadStateError(f"{path} is too large to be a state file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadStateError(f"{path} is not UTF-8") from None
    return ResumeState.from_json(text)


def find_state(directory: Path, share_id: bytes) -> tuple[Path, ResumeState] | None:
    """Find the state file of share_id in directory (the name is unknown before the metainfo)."""
    try:
        candidates = sorted(directory.glob("*" + STATE_SUFFIX))[:MAX_STATE_FILES_SCANNED]
    except OSError:
        return None
    for candidate in candidates:
        try:
            state = load_state(candidate)
        except BadStateError:
            continue
        if state.share_id == share_id:
            return candidate, state
    return None
