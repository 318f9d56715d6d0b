"""Tree metainfo (spec 8.7): canonical round trips, the byte layout, every bound and collision.

The hostile cases one by one are in spec/vectors/tree.json (test_vectors.py); here Hypothesis
checks the properties over many trees, and the bounds are pushed to their exact limits.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from conn_helpers import feed
from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core.connection import Connection, Role
from p2pshare_core.constants import (
    MAX_METAINFO_SIZE,
    MAX_TREE_ENTRIES,
    MIN_PIECE_SIZE,
)
from p2pshare_core.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from p2pshare_core.events import Handshake
from p2pshare_core.metafetch import MetainfoFetch
from p2pshare_core.metainfo import Metainfo
from p2pshare_core.tree import (
    EMPTY_SHA1,
    TreeEntry,
    TreeMetainfo,
    check_entries,
    choose_tree_piece_size,
    fold_path,
)
from swarm_harness import Network

# Components: SAFE NAMES, with letters that collide under case folding and normalisation.
_components = st.sampled_from(["a", "B", "b", "c.txt", "é", "e\u0301", "文件", "ß", "SS", "x y"])
_paths = st.lists(_components, min_size=1, max_size=4).map("/".join)


def _content(path: str, size: int) -> bytes:
    seed = hashlib.sha256(path.encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def _tree(files: dict[str, int], piece_size: int = MIN_PIECE_SIZE) -> tuple[TreeMetainfo, bytes]:
    """A tree of these files (path -> size) and its concatenated content, in spec order."""
    entries = sorted(
        (TreeEntry(p, s, hashlib.sha1(_content(p, s)).digest()) for p, s in files.items()),
        key=TreeEntry.order_key,
    )
    whole = b"".join(_content(e.path, e.size) for e in entries)
    hashes = [
        hashlib.sha256(whole[i : i + piece_size]).digest() for i in range(0, len(whole), piece_size)
    ]
    return TreeMetainfo.build("root", piece_size, entries, hashes), whole


def _legal(paths: list[str]) -> bool:
    try:
        check_entries(sorted((TreeEntry(p) for p in set(paths)), key=TreeEntry.order_key))
    except LocalProtocolError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_paths, st.integers(0, 40_000), max_size=8))
def test_round_trip_and_layout(files: dict[str, int]) -> None:
    """Legal trees decode to themselves; spans map every byte to its file [TREE-1, TREE-6]."""
    if not _legal(list(files)):
        with pytest.raises(LocalProtocolError) as info:
            _tree(files)
        assert info.value.requirement in ("TREE-5",)
        return
    meta, whole = _tree(files)
    data = meta.encode()
    again = Metainfo.decode(data)
    assert again == meta and again.encode() == data
    assert again.share_id == hashlib.sha256(data).digest()
    assert meta.summary.metainfo_size == len(data) and meta.summary.is_tree
    contents = {e.path: _content(e.path, e.size) for e in meta.entries}
    for start in range(0, len(whole), 7_919):
        length = min(20_000, len(whole) - start)
        got = b"".join(
            contents[meta.entries[s.entry].path][s.offset : s.offset + s.length]
            for s in meta.spans(start, length)
        )
        assert got == whole[start : start + length]


@settings(max_examples=60, deadline=None)
@given(_paths, _paths)
def test_folded_duplicates_are_refused(first: str, second: str) -> None:
    """Two different paths with one folded form never both get into a tree [TREE-5]."""
    if first == second or fold_path(first.split("/")) != fold_path(second.split("/")):
        return
    with pytest.raises(LocalProtocolError) as info:
        check_entries(sorted([TreeEntry(first), TreeEntry(second)], key=TreeEntry.order_key))
    assert info.value.requirement == "TREE-5"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_decoding_damaged_trees_fails_cleanly(data: st.DataObject) -> None:
    """Any byte of a tree changed, cut or added: a decoded tree or BAD_METAINFO, nothing else."""
    meta, _ = _tree({"a/b": 3, "a/c": 0, "d": 17_000, "文件/e": 5})
    blob = bytearray(meta.encode())
    at = data.draw(st.integers(0, len(blob) - 1))
    action = data.draw(st.sampled_from(["flip", "cut", "add"]))
    if action == "flip":
        blob[at] ^= data.draw(st.integers(1, 255))
    elif action == "cut":
        del blob[at:]
    else:
        blob[at:at] = data.draw(st.binary(min_size=1, max_size=40))
    try:
        Metainfo.decode(bytes(blob))
    except RemoteProtocolError as err:
        assert err.code is ErrorCode.BAD_METAINFO


def test_entry_count_bound_is_exact() -> None:
    """MAX_TREE_ENTRIES entries are a tree; one more is not [TREE-2]."""
    entries = [TreeEntry(f"{i:05x}", 0, EMPTY_SHA1) for i in range(MAX_TREE_ENTRIES)]
    meta = TreeMetainfo.build("many", MIN_PIECE_SIZE, entries, [])
    assert len(Metainfo.decode(meta.encode()).entries) == MAX_TREE_ENTRIES  # type: ignore[attr-defined]
    with pytest.raises(LocalProtocolError) as info:
        check_entries([*entries, TreeEntry("zzzzz")])
    assert info.value.requirement == "TREE-2"


def test_piece_size_grows_until_the_file_list_fits() -> None:
    """Long file lists push the piece size up so the metainfo fits its 65 chunks [TREE-12]."""
    entries = [TreeEntry(f"{i:05x}/" + "n" * 200, 1 << 20) for i in range(10_000)]
    size = choose_tree_piece_size("big", entries)
    assert size > 65_536
    count = -(-sum(e.size for e in entries) // size)
    meta_size = len(TreeMetainfo.build("big", size, entries, [bytes(32)] * count).encode())
    assert meta_size <= MAX_METAINFO_SIZE
    with pytest.raises(ValueError, match="does not fit"):
        choose_tree_piece_size("big", [TreeEntry(f"{i:05x}/" + "n" * 900) for i in range(5000)])


def test_a_tree_goes_through_a_swarm_from_the_share_id_alone() -> None:
    """A fetcher that knows only the share ID learns the tree summary from the handshake,
    fetches the tree metainfo (its size from the tag), and gets every file [TREE-8, TREE-7]."""
    meta, whole = _tree({"a": 5, "b/c": 70_000, "b/d": 0, "文件": 40_000})
    net = Network(seed=3)
    seed = net.add_node("seed", metainfo=meta, data=whole)
    fetcher = net.add_node("fetch", metainfo=None, share_id=meta.share_id)
    net.bootstrap(fetcher, seed)
    assert net.run(net.all_complete, max_time=60)
    assert fetcher.metainfo == meta and bytes(fetcher.disk or b"") == whole
    assert not fetcher.corrupt_file


def test_a_corrupt_file_fails_the_tree() -> None:
    """One file whose bytes do not match its SHA-1 is reported, not completed [TREE-7]."""
    meta, _ = _tree({"a": 3, "b": 4})
    assert meta.corrupt_files([meta.entries[0].sha1, EMPTY_SHA1]) == [1]
    assert meta.file_verdict([e.sha1 for e in meta.entries]) == meta.file_sha1
    assert meta.file_verdict([EMPTY_SHA1, EMPTY_SHA1]) == b""


def test_tree_summaries_in_the_handshake() -> None:
    """A connection takes a tree summary, and fails a bad tag or root name [TREE-9]."""
    meta, _ = _tree({"a": 5})
    conn = Connection(Role.DIALER)
    hello = Handshake.for_share(
        peer_id=b"\1" * 20, listen_port=1, share_id=meta.share_id, summary=meta.summary
    )
    events = feed(conn, hello)
    assert events[0].summary == meta.summary  # type: ignore[union-attr]
    for changes, code in (
        ({"file_sha1": b"\0\0\0\x10" + bytes(16)}, ErrorCode.BAD_HANDSHAKE),
        ({"file_sha1": meta.file_sha1[:-1] + b"\1"}, ErrorCode.BAD_HANDSHAKE),
        ({"name": "../"}, ErrorCode.BAD_METAINFO),
    ):
        conn = Connection(Role.DIALER)
        with pytest.raises(RemoteProtocolError) as info:
            feed(conn, replace(hello, **changes))
        assert info.value.code is code and info.value.requirement == "TREE-9"


_TAG = b"\0\0\0\x35" + bytes(16)  # (the tag of a one-entry tree "r" with path "a" and 1 piece)


@pytest.mark.parametrize(
    ("make", "requirement"),
    [
        (lambda: check_entries([TreeEntry(b"x")]), "TREE-3"),  # type: ignore[arg-type]
        (lambda: check_entries([TreeEntry("\ud800")]), "TREE-3"),
        (lambda: check_entries([TreeEntry("a", kind=7)]), "TREE-2"),  # type: ignore[arg-type]
        (lambda: check_entries([TreeEntry("a", sha1=b"x")]), "TREE-2"),
        (lambda: check_entries([TreeEntry("a", size=-1)]), "TREE-2"),
        (lambda: TreeMetainfo.build("r" * 255, MIN_PIECE_SIZE, [], []), "TREE-2"),
        (
            lambda: TreeMetainfo("r", 5, MIN_PIECE_SIZE, _TAG, [b"h" * 32], (TreeEntry("a", 3),)),
            "TREE-2",
        ),
        (lambda: TreeMetainfo("r", 3, MIN_PIECE_SIZE, _TAG, [], (TreeEntry("a", 3),)), "TREE-1"),
        (
            lambda: TreeMetainfo(
                "r", 3, MIN_PIECE_SIZE, bytes(20), [b"h" * 32], (TreeEntry("a", 3),)
            ),
            "TREE-8",
        ),
        (lambda: TreeMetainfo._decode(b"P2PM" + bytes(30)), "TREE-1"),
        (lambda: TreeMetainfo._decode(b"P2PT" + bytes(MAX_METAINFO_SIZE - 3)), "TREE-1"),
    ],
)
def test_illegal_trees_cannot_be_built(make: object, requirement: str) -> None:
    """What a creator or a decoder must never accept, each for the rule's own reason."""
    with pytest.raises(LocalProtocolError) as info:
        make()  # type: ignore[operator]
    assert info.value.requirement == requirement, str(info.value)


def test_helpers_refuse_what_does_not_fit() -> None:
    meta, _ = _tree({"a": 3})
    with pytest.raises(ValueError):
        choose_tree_piece_size("r", [TreeEntry("a", 1 << 44)])
    with pytest.raises(ValueError):
        choose_tree_piece_size("r", [TreeEntry("a", 1)], 1000)
    with pytest.raises(ValueError):
        meta.corrupt_files([])
    with pytest.raises(ValueError):
        list(meta.spans(2, 2))


def test_a_hostile_tree_is_refused_for_its_own_reason() -> None:
    """A tree metainfo that hashes to the share ID but has a '..' path: the peers that sent
    it are failed citing TREE-3, not 'does not match the share ID' [META-14, TREE-3]."""
    blob = (
        b"P2PT\x01" + bytes(8) + (16384).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"\0\4evil"
    )
    blob += b"\0" + bytes(8) + EMPTY_SHA1 + b"\0\2.."
    fetch = MetainfoFetch(None)
    assert fetch.received(0, blob, b"p" * 20, 1)
    meta, sources = fetch.assemble(hashlib.sha256(blob).digest())
    assert meta is None and sources == {b"p" * 20}
    assert fetch.problem is not None and fetch.problem.requirement == "TREE-3"
