"""End to end: real `p2pshare` processes on loopback, watched through their --json events.

Every wait is on a real event with a deadline (PeerProcess.wait_for / wait_until); every test is
bounded by pytest-timeout. Files are a few MiB and not a multiple of the 16 KiB piece size.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from p2pshare_cli.procs import PeerProcess, wait_until
from p2pshare_node.ranges import parse_ranges

from .conftest import (
    DONE_TIMEOUT,
    EVENT_TIMEOUT,
    Swarm,
    link_to,
    peer_id,
    pieces_of,
    random_file,
    sha1_file,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def test_chain_of_six_leechers_meshes_by_pex(swarm: Swarm, source: tuple[Path, str]) -> None:
    """[PEX] 1 seeder + 6 leechers, each told about one other leecher only (a chain)."""
    path, digest = source
    # The throttled seeder makes the leechers trade pieces among themselves, and keeps the
    # swarm incomplete long enough (> PEX_MIN_INTERVAL) for a second round of peer exchange.
    seeder, link = await swarm.seed("seeder", path, "--max-upload-rate", "512KiB")
    leechers: list[PeerProcess] = []
    previous = link
    for k in range(1, 7):
        # --seed: a leecher that reaches the default seed ratio would exit before the snapshot
        proc = await swarm.get(f"leecher{k}", previous, "--seed")
        leechers.append(proc)
        previous = link_to(proc, link)
    done = await asyncio.gather(*(p.wait_for("completed", DONE_TIMEOUT) for p in leechers))
    for event in done:
        assert sha1_file(Path(event["path"])) == digest
        assert event["sha1"] == digest

    seeder_id = peer_id(seeder)
    contributors = {p for leecher in leechers for e in leecher.all("piece") for p in e["peers"]}
    assert contributors - {seeder_id}, "no leecher got a piece from another leecher"
    # PEX: each leecher was told about one peer only, yet the mesh has more than the chain
    pairs = zip([seeder, *leechers[:-1]], leechers, strict=True)
    chain = {frozenset((peer_id(a), peer_id(b))) for a, b in pairs}
    edges = {
        frozenset((peer_id(p), e["peer_id"])) for p in leechers for e in p.all("peer-connected")
    }
    assert len(edges - chain) >= 3, edges - chain
    met = {e["peer_id"] for e in leechers[-1].all("peer-connected")}
    assert len(met) >= 2, met  # the last one met more than its bootstrap peer

    # a fresh snapshot from every peer after all completed: no pair connected twice
    marks = {p.name: len(p.events) for p in [seeder, *leechers]}
    for proc in [seeder, *leechers]:
        await proc.wait_for("progress", EVENT_TIMEOUT, since=marks[proc.name])
    for proc in [seeder, *leechers]:
        snapshot = [e for e in proc.all("progress")][-1]
        assert len(snapshot["peers"]) == len(set(snapshot["peers"])), (proc.name, snapshot)
        assert peer_id(proc) not in snapshot["peers"]  # no self-connection


async def test_killed_leecher_resumes_without_refetching(
    swarm: Swarm, source: tuple[Path, str]
) -> None:
    """SIGKILL mid-download, restart: every piece reported verified before the kill is
    re-checked and never fetched again ([STORE-4]: the journal records it before the report)."""
    path, digest = source
    _, link = await swarm.seed("seeder", path, "--max-upload-rate", "1MiB")
    leecher = await swarm.get("leecher", link)
    meta = await leecher.wait_for("metadata", EVENT_TIMEOUT)
    state_file = Path(meta["path"] + ".part.json")
    total = int(meta["pieces"])

    def reported() -> set[int]:
        return set(pieces_of(leecher))

    await wait_until(lambda: len(reported()) >= total // 4, swarm.notify, DONE_TIMEOUT, "pieces")
    leecher.kill()
    await leecher.wait_exit(EVENT_TIMEOUT)
    assert not leecher.first("completed"), "the throttled download finished before the kill"
    before = reported()
    assert 0 < len(before) < total
    assert Path(meta["path"] + ".part").exists()

    again = await swarm.get("leecher", link)
    meta2 = await again.wait_for("metadata", EVENT_TIMEOUT)
    # every reported piece re-hashed and confirmed (plus any verified in the instant before
    # the kill that had not been printed yet)
    assert meta2["have"] >= len(before)
    done = await again.wait_for("completed", DONE_TIMEOUT)
    refetched = set(pieces_of(again))
    assert not refetched & before, sorted(refetched & before)
    assert len(refetched) + meta2["have"] == total
    assert sha1_file(Path(done["path"])) == digest
    assert not state_file.exists()
    assert not Path(meta["path"] + ".part.journal").exists()


@pytest.mark.parametrize("mode", [(), ("--super-seed",)], ids=["plain", "super-seed"])
async def test_leechers_finish_after_the_seeder_dies(
    swarm: Swarm, source: tuple[Path, str], mode: tuple[str, ...]
) -> None:
    """When the leechers together hold every piece, the seeder's death does not stop them;
    a super-seeder [SEED] offers each of them pieces nobody has, so that happens after about
    one copy of its upload."""
    path, digest = source
    seeder, link = await swarm.seed("seeder", path, "--max-upload-rate", "3MiB", *mode)
    # leechers upload slowly, so they are still trading when the seeder has sent one copy
    # --seed: a finished leecher stays for the others even after uploading one copy
    leechers = [await swarm.get("leecher1", link, "--max-upload-rate", "384KiB", "--seed")]
    for k in (2, 3):
        leechers.append(
            await swarm.get(
                f"leecher{k}",
                link_to(leechers[-1], link),
                "--max-upload-rate",
                "384KiB",
                "--peer",
                link,
                "--seed",
            )
        )
    meta = await leechers[0].wait_for("metadata", EVENT_TIMEOUT)
    total = int(meta["pieces"])

    def union() -> set[int]:
        return {i for p in leechers for i in pieces_of(p)}

    await wait_until(lambda: len(union()) == total, swarm.notify, DONE_TIMEOUT, "all pieces")
    seeder.kill()
    await seeder.wait_exit(EVENT_TIMEOUT)
    assert not all(p.first("completed") for p in leechers), "finished before the seeder died"
    for proc in leechers:
        done = await proc.wait_for("completed", DONE_TIMEOUT)
        assert sha1_file(Path(done["path"])) == digest


async def test_corrupt_peer_is_banned_and_download_is_correct(swarm: Swarm, tmp_path: Path) -> None:
    """A peer serving corrupt data: pieces fail, it is banned, the file is still right."""
    folder = tmp_path / "seed"
    folder.mkdir()
    path = folder / "data.bin"
    digest = random_file(path, 1024 * 1024 + 4321)
    honest, link = await swarm.seed("honest", path, "--max-upload-rate", "256KiB")
    liar, liar_link = await swarm.seed("liar", path, "--fault", "corrupt")
    assert liar_link.rsplit("/", 1)[1] == link.rsplit("/", 1)[1]  # same file, same share
    leecher = await swarm.get("leecher", liar_link, "--peer", link)
    done = await leecher.wait_for("completed", DONE_TIMEOUT)
    assert sha1_file(Path(done["path"])) == digest
    banned = leecher.first("peer-banned")
    assert banned is not None and banned["peer_id"] == peer_id(liar)
    assert leecher.all("piece-failed")
    for piece in leecher.all("piece"):
        assert peer_id(liar) not in piece["peers"]  # nothing from the liar was accepted
    _ = honest


async def test_share_id_mismatch_and_existing_output(
    swarm: Swarm, source: tuple[Path, str], tmp_path: Path
) -> None:
    """Wrong share id in the link, and an existing output file: clear errors, exit codes 4, 5."""
    path, _ = source
    _, link = await swarm.seed("seeder", path)
    address = link.split("/")[2]
    out = tmp_path / "out"
    out.mkdir()
    wrong = await swarm.spawn(
        "wrong", "get", f"p2pshare://{address}/{'ab' * 32}", "-o", str(out), started=False
    )
    assert await wrong.wait_exit(EVENT_TIMEOUT) == 4
    assert wrong.first("error")["error"] == "share-mismatch"  # type: ignore[index]

    (out / path.name).write_bytes(b"precious")
    clash = await swarm.spawn("clash", "get", address, "-o", str(out), started=False)
    assert await clash.wait_exit(EVENT_TIMEOUT) == 5
    assert (out / path.name).read_bytes() == b"precious"
    assert "Traceback" not in clash.stderr + wrong.stderr

    forced = await swarm.spawn(
        "forced", "get", address, "-o", str(out), "--force", "--exit-when-done", started=False
    )
    assert await forced.wait_exit(DONE_TIMEOUT) == 0
    assert sha1_file(out / path.name) == sha1_file(path)


def test_demo_runs_and_verifies_every_copy() -> None:
    """The README's main command, small: separate processes, verified copies, a summary."""
    from .conftest import run_cli

    result = run_cli("demo", "--peers", "3", "--size", "3MiB", "--seed-rate", "2MiB", timeout=100)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SHA-1 OK") == 3
    assert "Who served whom" in result.stdout and "Traceback" not in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX")
async def test_ctrl_c_saves_every_verified_piece(swarm: Swarm, source: tuple[Path, str]) -> None:
    """Ctrl-C: exit 130, and the state written on exit lists every piece reported verified."""
    path, digest = source
    _, link = await swarm.seed("seeder", path, "--max-upload-rate", "1MiB")
    leecher = await swarm.get("leecher", link)
    meta = await leecher.wait_for("metadata", EVENT_TIMEOUT)
    await wait_until(lambda: len(pieces_of(leecher)) >= 20, swarm.notify, DONE_TIMEOUT, "pieces")
    leecher.interrupt()
    assert await leecher.wait_exit(EVENT_TIMEOUT) == 130
    assert "resume" in leecher.stderr and "Traceback" not in leecher.stderr
    doc = json.loads(Path(meta["path"] + ".part.json").read_text())
    assert parse_ranges(doc["verified"], int(meta["pieces"])) == set(pieces_of(leecher))

    again = await swarm.get("leecher", link, "--exit-when-done")
    assert await again.wait_exit(DONE_TIMEOUT) == 0
    assert sha1_file(Path(meta["path"])) == digest


async def test_leecher_gives_up_when_no_peer_is_left(
    swarm: Swarm, source: tuple[Path, str]
) -> None:
    """The only seeder dies mid-download: after --give-up seconds alone, exit 3 (unreachable)."""
    path, _ = source
    seeder, link = await swarm.seed("seeder", path, "--max-upload-rate", "1MiB")
    leecher = await swarm.get("leecher", link, "--give-up", "2")
    await leecher.wait_for("piece", EVENT_TIMEOUT)
    seeder.kill()
    assert await leecher.wait_exit(EVENT_TIMEOUT) == 3
    error = leecher.first("error")
    assert error is not None and error["error"] == "unreachable"


async def test_whole_file_hash_mismatch_is_an_integrity_error(
    swarm: Swarm, source: tuple[Path, str]
) -> None:
    """Every piece verifies but the file's SHA-1 does not match its metainfo: exit 7."""
    path, _ = source
    _, link = await swarm.seed("liar", path, "--fault", "wrong-sha1")
    leecher = await swarm.get("leecher", link, "--exit-when-done")
    assert await leecher.wait_exit(DONE_TIMEOUT) == 7
    error = leecher.first("error")
    assert error is not None and error["error"] == "integrity"
    assert not (swarm.tmp / "leecher" / path.name).exists()  # never renamed into place
    assert "Traceback" not in leecher.stderr
