"""The download folder is hostile ground too: links planted in it, a full disk, a second `get`.

Each test runs the real `p2pshare` processes and reproduces one reported hole (issue #15):
a metainfo claiming more than the disk holds, a symlink at NAME.part, a file name too long for
the sidecar files, two downloads of one share into one folder, a disk that fills up midway.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from p2pshare_cli.exit_codes import ExitCode
from p2pshare_cli.procs import Event, PeerProcess, wait_until

from .conftest import DONE_TIMEOUT, EVENT_TIMEOUT, Swarm, pieces_of, random_file, sha1_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_huge_claim_is_refused_before_allocating(swarm: Swarm, tmp_path: Path) -> None:
    """[STORE-1] A seeder claiming 1 TiB: exit 6 naming needed and free space, nothing left."""
    source = tmp_path / "small.bin"
    random_file(source, 100_000)
    _, link = await swarm.seed("seeder", source, "--fault", "huge-claim")
    leecher = await swarm.get("leecher", link, "--give-up", "10", started=False)
    assert await leecher.wait_exit(EVENT_TIMEOUT) == ExitCode.FILESYSTEM
    failed = leecher.first("error")
    assert failed is not None and failed["error"] == "filesystem"
    assert "not enough free space" in failed["message"] and "1.0 TiB" in failed["message"]
    assert _leftovers(tmp_path / "leecher") == []  # no .part, no state, no journal, no lock


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="POSIX links")
async def test_symlink_at_part_is_not_followed(swarm: Swarm, tmp_path: Path) -> None:
    """[STORE-2] A symlink planted at NAME.part: refused, and the link's target is untouched."""
    source = tmp_path / "data.bin"
    random_file(source, 200_000)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    out = tmp_path / "leecher"
    out.mkdir()
    (out / "data.bin.part").symlink_to(victim)
    _, link = await swarm.seed("seeder", source)
    leecher = await swarm.get("leecher", link, "--give-up", "10", started=False)
    assert await leecher.wait_exit(EVENT_TIMEOUT) == ExitCode.FILESYSTEM
    failed = leecher.first("error")
    assert failed is not None and "symbolic link" in failed["message"]
    assert victim.read_bytes() == b"precious"
    assert (out / "data.bin.part").is_symlink()
    assert not (out / "data.bin").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX hard links")
async def test_hard_link_at_part_is_not_written(swarm: Swarm, tmp_path: Path) -> None:
    """[STORE-2] A hard link at NAME.part would write into a file of another name: refused."""
    source = tmp_path / "data.bin"
    random_file(source, 200_000)
    out = tmp_path / "leecher"
    out.mkdir()
    victim = out / "notes.txt"
    victim.write_bytes(b"precious")
    os.link(victim, out / "data.bin.part")
    _, link = await swarm.seed("seeder", source)
    leecher = await swarm.get("leecher", link, "--give-up", "10", started=False)
    assert await leecher.wait_exit(EVENT_TIMEOUT) == ExitCode.FILESYSTEM
    assert victim.read_bytes() == b"precious"


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="POSIX links")
async def test_symlink_at_final_name_counts_as_existing(swarm: Swarm, tmp_path: Path) -> None:
    """A (even dangling) symlink at the final name is an existing file: exit 5, no rename."""
    source = tmp_path / "data.bin"
    random_file(source, 200_000)
    out = tmp_path / "leecher"
    out.mkdir()
    (out / "data.bin").symlink_to(tmp_path / "nowhere")
    _, link = await swarm.seed("seeder", source)
    leecher = await swarm.get("leecher", link, "--give-up", "10", started=False)
    assert await leecher.wait_exit(EVENT_TIMEOUT) == ExitCode.OUTPUT_EXISTS
    assert (out / "data.bin").is_symlink() and not (tmp_path / "nowhere").exists()


async def test_longest_legal_name_downloads(swarm: Swarm, tmp_path: Path) -> None:
    """A 250-byte name has no room for ".part.json": the sidecars get a shortened name."""
    folder = tmp_path / "seed"
    folder.mkdir()
    source = folder / ("é" * 120 + "long.bin")  # 244 bytes of UTF-8
    digest = random_file(source, 300_000)
    _, link = await swarm.seed("seeder", source)
    leecher = await swarm.get("leecher", link, "--exit-when-done")
    assert await leecher.wait_exit(DONE_TIMEOUT) == 0, leecher.stderr
    assert sha1_file(tmp_path / "leecher" / source.name) == digest
    assert _leftovers(tmp_path / "leecher") == [source.name]


async def test_second_get_into_the_same_folder_is_locked_out(swarm: Swarm, tmp_path: Path) -> None:
    """[STORE-5] Two gets of one share into one folder: the second exits 9 naming the first."""
    source = tmp_path / "data.bin"
    digest = random_file(source, 2_000_000)
    _, link = await swarm.seed("seeder", source, "--max-upload-rate", "256KiB")
    first = await swarm.get("leecher", link, "--exit-when-done")
    await first.wait_for("metadata", EVENT_TIMEOUT)
    second = await swarm.get("leecher", link, "--exit-when-done", started=False)
    assert await second.wait_exit(EVENT_TIMEOUT) == ExitCode.LOCKED
    failed = second.first("error")
    assert first.proc is not None
    assert failed is not None and f"pid {first.proc.pid}" in failed["message"]
    assert await first.wait_exit(DONE_TIMEOUT) == 0
    assert sha1_file(tmp_path / "leecher" / "data.bin") == digest


# --- a real full disk: a small tmpfs (root only) --------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB filesystem of our own (tmpfs), unmounted whatever the test does."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root on Linux to mount a small filesystem")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_too_big_for_the_disk_at_start(
    swarm: Swarm, tmp_path: Path, small_disk: Path
) -> None:
    """[STORE-1] A 6 MiB share into a 4 MiB filesystem: refused up front, the disk left empty."""
    source = tmp_path / "data.bin"
    random_file(source, 6 * 1024 * 1024)
    _, link = await swarm.seed("seeder", source)
    leecher = await swarm.spawn(
        "leecher", "get", link, "-o", str(small_disk), "--give-up", "10", started=False
    )
    assert await leecher.wait_exit(EVENT_TIMEOUT) == ExitCode.FILESYSTEM
    failed = leecher.first("error")
    assert failed is not None and "needs 6.0 MiB" in failed["message"]
    assert _leftovers(small_disk) == []
    assert shutil.disk_usage(small_disk).used < 64 * 1024


async def test_disk_filling_up_midway_does_not_stop_the_download(
    swarm: Swarm, tmp_path: Path, small_disk: Path
) -> None:
    """Another program takes every free byte while a download runs: the download's space was
    reserved at start (preallocation), so it finishes, verified, with nothing extra written."""
    source = tmp_path / "data.bin"
    digest = random_file(source, 1_500_000)
    _, link = await swarm.seed("seeder", source, "--max-upload-rate", "512KiB")
    leecher = await swarm.spawn("leecher", "get", link, "-o", str(small_disk), "--exit-when-done")
    await wait_until(lambda: len(pieces_of(leecher)) >= 10, swarm.notify, DONE_TIMEOUT, "pieces")
    hog = small_disk / "hog"
    with open(hog, "wb", buffering=0) as fh:  # take every free byte, as a runaway program would
        chunk = b"\0" * 65536
        while True:
            try:
                fh.write(chunk)
            except OSError:
                break
    assert shutil.disk_usage(small_disk).free < 65536
    assert await leecher.wait_exit(DONE_TIMEOUT) == 0, leecher.stderr
    assert sha1_file(small_disk / "data.bin") == digest
    assert _leftovers(small_disk) == ["data.bin", "hog"]


# --- the served file changes under the seeder (STORE-6) -------------------------------------


async def _file_changed(proc: PeerProcess, count: int) -> Event:
    """The `count`-th file-changed event that ends a re-check (bad >= 0)."""
    await wait_until(
        lambda: len([e for e in proc.all("file-changed") if e["bad"] >= 0]) >= count,
        proc.notify or asyncio.Event(),
        EVENT_TIMEOUT,
        "file-changed",
    )
    return [e for e in proc.all("file-changed") if e["bad"] >= 0][count - 1]


async def test_edited_piece_is_rejected_never_served(swarm: Swarm, tmp_path: Path) -> None:
    """The user edits the shared file: its seeder notices, re-checks, and answers requests for
    the changed piece with reject; the download finishes from an honest seeder, and no piece
    ever fails verification (the edited bytes were never sent)."""
    original = os.urandom(40 * 16384 + 100)
    copies = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        copies.append(tmp_path / name / "data.bin")
        copies[-1].write_bytes(original)
    edited, link = await swarm.seed("edited", copies[0])
    _, honest = await swarm.seed("honest", copies[1])
    with open(copies[0], "r+b") as fh:  # one byte of piece 5, in place: same size
        fh.seek(5 * 16384 + 7)
        fh.write(bytes([original[5 * 16384 + 7] ^ 0xFF]))
    done = await _file_changed(edited, 1)
    assert done["bad"] == 1 and "no longer match" in done["message"]
    leecher = await swarm.get("leecher", link, "--peer", honest, "--exit-when-done")
    assert await leecher.wait_exit(DONE_TIMEOUT) == 0, leecher.stderr
    assert not leecher.all("piece-failed")
    assert (tmp_path / "leecher" / "data.bin").read_bytes() == original


async def test_truncated_restored_then_grown_file_is_rechecked(
    swarm: Swarm, tmp_path: Path
) -> None:
    """Truncation makes every piece past the new end unservable; writing the bytes back makes
    them good again (a re-check, not a restart); growing it keeps every piece good."""
    source = tmp_path / "data.bin"
    original = os.urandom(40 * 16384 + 100)
    source.write_bytes(original)
    seeder, _ = await swarm.seed("seeder", source)
    os.truncate(source, 16 * 16384)
    first = await _file_changed(seeder, 1)
    assert first["bad"] == 41 - 16 and "truncated" in seeder.all("file-changed")[0]["message"]
    source.write_bytes(original)
    second = await _file_changed(seeder, 2)
    assert second["bad"] == 0 and "serving it again" in second["message"]
    with open(source, "ab") as fh:  # grown: bytes past the shared size are never served
        fh.write(b"appended")
    third = await _file_changed(seeder, 3)
    assert third["bad"] == 0 and "grew by 8 bytes" in seeder.all("file-changed")[-2]["message"]


async def test_read_only_folder_is_a_clear_error(
    swarm: Swarm, tmp_path: Path, small_disk: Path
) -> None:
    """A folder on a read-only filesystem (even for root): exit 6 before anything is fetched."""
    source = tmp_path / "data.bin"
    random_file(source, 100_000)
    _, link = await swarm.seed("seeder", source)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    leecher = await swarm.spawn(
        "leecher", "get", link, "-o", str(small_disk), "--give-up", "10", started=False
    )
    assert await leecher.wait_exit(EVENT_TIMEOUT) == ExitCode.FILESYSTEM
    failed = leecher.first("error")
    assert failed is not None and "not writable" in failed["message"]
