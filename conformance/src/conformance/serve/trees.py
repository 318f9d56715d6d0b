"""Trees for serve mode (spec 8.7): a healthy one to download, and hostile ones to refuse.

A hostile tree is served exactly like an honest one: its share ID is the SHA-256 of its bytes,
so it passes META-14's hash check, and only the downloader's TREE rules can stop it. All its
files are empty (no pieces): a downloader that accepted one would create files at once, without
asking for any data, which is what must never happen for a path like `../escape`.
"""

from __future__ import annotations

import hashlib
import random

from p2pshare_core.tree import EMPTY_SHA1, TreeEntry, TreeMetainfo, choose_tree_piece_size

from conformance import craft

HOSTILE_TREES: dict[str, tuple[str, list[tuple[int, str]]]] = {
    "tree-dotdot": ("TREE-3", [(0, "../escape.bin")]),
    "tree-dotdot-inside": ("TREE-3", [(0, "a/../../escape.bin")]),
    "tree-absolute": ("TREE-3", [(0, "/tmp/escape.bin")]),
    "tree-backslash": ("TREE-3", [(0, "..\\escape.bin")]),
    "tree-duplicate": ("TREE-4", [(0, "same.txt"), (0, "same.txt")]),
    "tree-case-collision": ("TREE-5", [(0, "README"), (0, "readme")]),
    "tree-file-and-dir": ("TREE-5", [(0, "a"), (0, "a/b")]),
    "tree-too-many": ("TREE-2", [(0, f"{i:05x}") for i in range(65_537)]),
}
"""scenario -> (the rule that refuses it, its (kind, path) entries in this order)."""


def hostile_tree(scenario: str) -> bytes:
    """The tree metainfo bytes of a hostile scenario (root name "evil", no pieces)."""
    _, paths = HOSTILE_TREES[scenario]
    return craft.tree_metainfo("evil", [(kind, p, 0, EMPTY_SHA1) for kind, p in paths])


def honest_tree(size: int, piece_size: int, seed: int) -> tuple[TreeMetainfo, bytes]:
    """A tree with nested and empty directories, an empty file and Unicode names holding
    `size` bytes in all, and its concatenated content."""
    rng = random.Random(seed)
    sizes = {
        "docs/readme.txt": 1_000,
        "docs/empty.txt": 0,
        "photos/2024/Ünïcødé 文件.jpg": size // 2,
        "photos/2024/b.jpg": size - size // 2 - 1_003,
        "z": 3,
    }
    contents = {p: rng.randbytes(n) for p, n in sizes.items()}
    entries = [TreeEntry(p, len(d), hashlib.sha1(d).digest()) for p, d in contents.items()]
    entries.append(TreeEntry.directory("empty dir"))
    entries.sort(key=TreeEntry.order_key)
    whole = b"".join(contents.get(e.path, b"") for e in entries)
    piece_size = choose_tree_piece_size("conformance", entries, piece_size)
    hashes = [
        hashlib.sha256(whole[i : i + piece_size]).digest() for i in range(0, len(whole), piece_size)
    ]
    return TreeMetainfo.build("conformance", piece_size, entries, hashes), whole
