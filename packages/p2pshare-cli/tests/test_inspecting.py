"""`p2pshare info` and `p2pshare verify`: a share described, a local file checked, nothing
downloaded (issue #16)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from .conftest import Swarm, random_file, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def _cli(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(run_cli, *args, timeout=60)
    return result.returncode, result.stdout + result.stderr


async def test_info_from_a_file_and_from_a_link_agree(swarm: Swarm, tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    digest = random_file(source, 200_000)
    _, link = await swarm.seed("seeder", source)
    code, local = await _cli("info", str(source), "--piece-size", "16384", "--json")
    assert code == 0, local
    code, remote = await _cli("info", link, "--json")
    assert code == 0, remote
    mine, theirs = json.loads(local), json.loads(remote)
    assert mine["share_id"] == theirs["share_id"] == link.rsplit("/", 1)[1]
    assert mine["sha1"] == theirs["sha1"] == digest and theirs["pieces"] == 13
    assert mine["source"].startswith("local file") and theirs["source"].startswith("peer ")
    code, text = await _cli("info", link)
    assert code == 0 and "Share ID:" in text and "SHA-1:      " + digest in text
    assert not any(p.name.endswith(".part") for p in tmp_path.rglob("*"))  # nothing written


async def test_verify_says_ok_or_names_the_pieces_that_differ(swarm: Swarm, tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    random_file(source, 200_000)
    _, link = await swarm.seed("seeder", source)
    code, text = await _cli("verify", str(source), link)
    assert code == 0 and text.startswith("OK: "), text
    copy = tmp_path / "copy.bin"
    data = bytearray(source.read_bytes())
    data[16384 * 3 + 5] ^= 1
    copy.write_bytes(bytes(data))
    code, text = await _cli("verify", str(copy), link, "--json")
    assert code == 7, text
    result = json.loads(text.splitlines()[0])
    assert result["ok"] is False and result["bad_pieces"] == [3]
    copy.write_bytes(bytes(data[:1000]))
    code, text = await _cli("verify", str(copy), link)
    assert code == 7 and "size 1000 bytes" in text
