"""`p2pshare info` and `p2pshare verify`: look at a share without downloading it.

`info` describes a share: from a local file (hashed as `share` would, so the share ID printed
is the one `share` would print), or from a link (only the metainfo is fetched, and checked
against the link's share ID by the core before anything is shown). `verify` checks a local file
against a share piece by piece and by its whole-file SHA-1, as a user comparing a download
with a published share would, and exits 0 or with the integrity code.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click
from p2pshare_core.link import parse_link
from p2pshare_core.metainfo import Metainfo
from p2pshare_core.tree import TreeMetainfo
from p2pshare_node.config import NodeConfig
from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.node import Node
from p2pshare_node.preparation import check_shareable
from p2pshare_node.sharetree import build_tree_metainfo
from p2pshare_node.sharing import build_metainfo
from p2pshare_node.storage import PieceStore
from p2pshare_node.treestore import open_in_tree, open_root

from p2pshare_cli.exit_codes import EXIT_FOR_KIND, ExitCode
from p2pshare_cli.safetext import printable
from p2pshare_cli.units import format_bytes, format_iec

FETCH_TIMEOUT = 60.0
MAX_LISTED = 10  # mismatching pieces named at most
MAX_FILES_LISTED = 50  # files of a folder share listed by `info` (all of them with --json)


@dataclass(frozen=True)
class Described:
    """A verified metainfo and where it came from."""

    meta: Metainfo
    source: str


async def _fetch(link: str, timeout: float) -> Described:
    parsed = parse_link(link)
    config = NodeConfig(
        share_id=parsed.share_id,
        bootstrap=((parsed.host, parsed.port),),
        metainfo_only=True,
        give_up_after=timeout,
        listen_host="127.0.0.1",  # (nobody needs to reach a node that only asks)
    )
    node = Node(config)
    try:
        await node.start()
        await asyncio.wait_for(node.wait_complete(), timeout)
    except TimeoutError:
        message = f"no metainfo from {link} within {timeout:g}s"
        raise NodeError(ErrorKind.UNREACHABLE, message) from None
    finally:
        await node.close()
    assert node.metainfo is not None
    return Described(node.metainfo, f"peer {parsed.address}")


def describe(target: str, piece_size: int | None, timeout: float) -> Described:
    """The metainfo of a local file (hashed here) or of a link (fetched and verified)."""
    path = Path(target)
    if os.path.lexists(path):
        check_shareable(path)
        if path.is_dir():
            try:
                tree, _ = build_tree_metainfo(path.resolve(), piece_size)
            except ValueError as exc:
                raise NodeError(ErrorKind.FILESYSTEM, f"cannot share {path}: {exc}") from None
            return Described(tree, f"local folder {path}")
        return Described(build_metainfo(path, piece_size), f"local file {path}")
    try:
        parse_link(target)
    except ValueError as exc:
        raise click.BadParameter(f"{target!r} is neither a file nor a link: {exc}") from None
    return asyncio.run(_fetch(target, timeout))


def _as_dict(described: Described) -> dict[str, object]:
    meta = described.meta
    fields: dict[str, object] = {
        "name": meta.name,
        "size": meta.file_size,
        "piece_size": meta.piece_size,
        "pieces": meta.piece_count,
        "sha1": "" if isinstance(meta, TreeMetainfo) else meta.file_sha1.hex(),
        "share_id": meta.share_id.hex(),
        "source": described.source,
    }
    if isinstance(meta, TreeMetainfo):  # a folder share: every file, with its SHA-1
        fields["files"] = [
            {
                "path": e.path,
                "kind": "folder" if e.is_dir else "file",
                "size": e.size,
                "sha1": "" if e.is_dir else e.sha1.hex(),
            }
            for e in meta.entries
        ]
    return fields


def _fail(exc: NodeError, json_output: bool) -> None:
    if json_output:
        print(json.dumps({"event": "error", "error": exc.kind.value, "message": exc.message}))
    click.echo(f"p2pshare: error: {printable(exc.message, 500)}", err=True)
    sys.exit(EXIT_FOR_KIND.get(exc.kind, ExitCode.INTERNAL))


@click.command()
@click.argument("target", metavar="LINK|FILE|FOLDER")
@click.option("--piece-size", default=None, type=int, hidden=True)
@click.option("--json", "json_output", is_flag=True, help="Print one JSON object.")
@click.option("--timeout", default=FETCH_TIMEOUT, show_default=True, metavar="SECONDS",
              help="How long to wait for a peer's metainfo.")  # fmt: skip
def info(target: str, piece_size: int | None, json_output: bool, timeout: float) -> None:
    """Describe a share: name, size, pieces, SHA-1 (a folder: each file's), share ID.

    A FILE is hashed as `share` would hash it; for a LINK only the metainfo is fetched
    (and checked against the link's share ID), nothing is downloaded.
    """
    try:
        described = describe(target, piece_size, timeout)
    except NodeError as exc:
        _fail(exc, json_output)
        return
    fields = _as_dict(described)
    if json_output:
        print(json.dumps(fields))
        return
    meta = described.meta
    click.echo(f"Name:       {printable(meta.name)}")
    click.echo(f"Size:       {format_bytes(meta.file_size)} ({meta.file_size} bytes)")
    click.echo(f"Pieces:     {meta.piece_count} of {format_iec(meta.piece_size)}")
    if isinstance(meta, TreeMetainfo):
        _echo_tree(meta)
    else:
        click.echo(f"SHA-1:      {meta.file_sha1.hex()}")
    click.echo(f"Share ID:   {meta.share_id.hex()}")
    click.echo(f"From:       {printable(described.source)}")


def _echo_tree(meta: TreeMetainfo) -> None:
    """A folder share's file list, each file with its size and SHA-1 [TREE-13]."""
    click.echo(f"Files:      {len(meta.entries)} (files and empty folders)")
    click.echo("Digest:     the share ID below (it covers every path, size and byte)")
    for entry in meta.entries[:MAX_FILES_LISTED]:
        if entry.is_dir:
            click.echo(f"  {'folder':>10}  {'':40}  {printable(entry.path)}/")
        else:
            size = format_bytes(entry.size)
            click.echo(f"  {size:>10}  {entry.sha1.hex()}  {printable(entry.path)}")
    more = len(meta.entries) - MAX_FILES_LISTED
    if more > 0:
        click.echo(f"  ... and {more} more (--json lists them all)")


def check_file(path: Path, meta: Metainfo) -> tuple[list[int], bool]:
    """(pieces that differ, whole-file SHA-1 matches) for a local file of the right size."""
    store = PieceStore.open_readonly(path)
    try:
        bad = [
            index
            for index in range(meta.piece_count)
            if store.sha256_range(meta.piece_offset(index), meta.piece_length(index))
            != meta.piece_hashes[index]
        ]
        return bad, store.sha1_file() == meta.file_sha1
    finally:
        store.close()


def check_folder(path: Path, meta: TreeMetainfo) -> list[str]:
    """The paths of a folder share that the local folder does not hold as listed: missing,
    not a plain file (a link is not followed), another size, or another SHA-1 [TREE-13]."""
    bad = []
    root_fd = open_root(path.resolve())
    try:
        for entry in meta.entries:
            if entry.is_dir:
                if not (path.joinpath(*entry.components)).is_dir():
                    bad.append(entry.path + "/")
                continue
            try:
                fd = open_in_tree(root_fd, path.resolve(), entry.components, os.O_RDONLY)
            except OSError:
                bad.append(entry.path)
                continue
            with os.fdopen(fd, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha1").digest()
                size = fh.tell()
            if size != entry.size or digest != entry.sha1:
                bad.append(entry.path)
    finally:
        if root_fd is not None:
            os.close(root_fd)
    return bad


def _verify_folder(path: Path, described: Described, json_output: bool) -> None:
    meta = described.meta
    if not isinstance(meta, TreeMetainfo):
        bad, reason = ["(the share is a single file)"], "the share is a file, not a folder"
    else:
        bad = check_folder(path, meta)
        reason = f"{len(bad)} of {len(meta.entries)} files differ or are missing"
    ok = not bad
    if json_output:
        print(json.dumps({**_as_dict(described), "folder": str(path), "ok": ok, "bad": bad[:1000]}))
    elif ok:
        click.echo(f"OK: {path} is the share {meta.share_id.hex()} (every file's SHA-1 matches)")
    else:
        listed = ", ".join(printable(b) for b in bad[:MAX_LISTED]) + (
            ", ..." if len(bad) > 10 else ""
        )
        click.echo(f"MISMATCH: {path}: {reason} ({listed})")
    sys.exit(ExitCode.OK if ok else ExitCode.INTEGRITY)


@click.command()
@click.argument("path", type=click.Path(path_type=Path, exists=True))
@click.argument("link")
@click.option("--json", "json_output", is_flag=True, help="Print one JSON object.")
@click.option("--timeout", default=FETCH_TIMEOUT, show_default=True, metavar="SECONDS",
              help="How long to wait for a peer's metainfo.")  # fmt: skip
def verify(path: Path, link: str, json_output: bool, timeout: float) -> None:
    """Check a local FILE (or FOLDER) against the share LINK names, without downloading it.

    Exit 0 when every piece and the whole-file SHA-1 match (a folder: every file's SHA-1, and
    nothing missing), 7 (integrity) otherwise.
    """
    try:
        described = asyncio.run(_fetch(link, timeout))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="LINK") from None
    except NodeError as exc:
        _fail(exc, json_output)
        return
    if path.is_dir():
        _verify_folder(path, described, json_output)
        return
    meta = described.meta
    size = path.stat().st_size
    if size != meta.file_size:
        bad, sha1_ok = list(range(meta.piece_count)), False
        reason = f"size {size} bytes, the share has {meta.file_size}"
    else:
        bad, sha1_ok = check_file(path, meta)
        reason = f"{len(bad)} of {meta.piece_count} pieces differ" if bad else ""
        if not bad and not sha1_ok:
            reason = "every piece matches but the whole-file SHA-1 does not"
    ok = not bad and sha1_ok
    if json_output:
        result = {**_as_dict(described), "file": str(path), "ok": ok, "bad_pieces": bad[:1000]}
        print(json.dumps(result))
    elif ok:
        click.echo(f"OK: {path} is the share {meta.share_id.hex()} (SHA-1 {meta.file_sha1.hex()})")
    else:
        listed = ", ".join(str(i) for i in bad[:MAX_LISTED]) + (", ..." if len(bad) > 10 else "")
        click.echo(f"MISMATCH: {path}: {reason}" + (f" (pieces {listed})" if bad else ""))
    sys.exit(ExitCode.OK if ok else ExitCode.INTEGRITY)
