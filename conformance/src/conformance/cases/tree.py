"""Section 8.7, multi-file shares: a target serving a folder describes it by the TREE rules.

Judged only when the target's handshake carries a tree summary (its name ends with '/'); a
target serving a single file is Unsupported here, and every other section checks it as before.
"""

from __future__ import annotations

import hashlib

from p2pshare_core.tree import TreeMetainfo

from conformance.context import CaseContext
from conformance.outcomes import Fail, Unsupported
from conformance.registry import case
from conformance.session import check_piece_hash, open_session

SECTION = "tree"
MAX_CHECKED_BYTES = 16 * 1024 * 1024
"""A tree up to this size is downloaded whole so every file's SHA-1 can be checked."""


def _served_tree(ctx: CaseContext) -> TreeMetainfo:
    if not ctx.target.summary.is_tree:
        raise Unsupported("the target serves a single file; serve a folder to judge TREE")
    meta = ctx.target.metainfo
    if meta is None:
        raise Fail(
            "the tree metainfo does not verify or decode",
            expected="a tree metainfo hashing to the share ID [TREE-1..TREE-5]",
            actual=str(ctx.target.metainfo_error),
        )
    if not isinstance(meta, TreeMetainfo):
        raise Fail(
            "a single-file metainfo behind a tree summary",
            expected='magic "P2PT" [TREE-8]',
            actual=meta.encode()[:4].hex(),
        )
    return meta


@case(
    "tree-summary-and-metainfo",
    section=SECTION,
    requirements=("TREE-1", "TREE-2", "TREE-3", "TREE-4", "TREE-5", "TREE-8", "TREE-9"),
)
def tree_summary_and_metainfo(ctx: CaseContext) -> None:
    """The tree summary (root name + '/', total size, tag with the metainfo size) matches the
    tree metainfo, which decodes under every TREE rule."""
    meta = _served_tree(ctx)
    size = len(meta.encode())
    if meta.summary != ctx.target.summary or ctx.target.summary.metainfo_size != size:
        raise Fail(
            "tree summary disagrees with the tree metainfo",
            expected=f"{meta.summary} with a tag holding {size} [TREE-8]",
            actual=str(ctx.target.summary),
        )


@case("tree-files-match", section=SECTION, requirements=("TREE-6", "TREE-12", "META-4"))
def tree_files_match(ctx: CaseContext) -> None:
    """The pieces of a seeded tree (up to 16 MiB) match their hashes over the concatenation,
    and every file's bytes in it match the SHA-1 its entry lists."""
    meta = _served_tree(ctx)
    if meta.file_size > MAX_CHECKED_BYTES:
        raise Unsupported(f"the tree holds {meta.file_size} bytes, over {MAX_CHECKED_BYTES}")
    if len(ctx.target.pieces_held()) != meta.piece_count:
        raise Unsupported("the target does not hold the whole tree")
    s = open_session(ctx)
    if meta.piece_count:
        s.ensure_unchoked()
    pieces = []
    for index in range(meta.piece_count):
        data = s.fetch_piece(index)
        check_piece_hash(ctx, index, data)
        pieces.append(data)
    whole = b"".join(pieces)
    for start, entry in zip(meta.starts, meta.entries, strict=True):
        digest = hashlib.sha1(whole[start : start + entry.size]).digest()
        if not entry.is_dir and digest != entry.sha1:
            raise Fail(
                f"file {entry.path!r} does not match its SHA-1",
                expected=f"{entry.sha1.hex()} [TREE-6, TREE-12]",
                actual=digest.hex(),
            )
