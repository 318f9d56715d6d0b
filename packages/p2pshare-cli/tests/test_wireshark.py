"""The Wireshark dissector (tools/wireshark/p2pshare.lua) decodes a real transfer (#17).

tcpdump records two real `share` / `get` transfers on loopback; tshark, with the dissector
loaded, must decode every p2pshare frame of them with the right fields: the handshake's share ID
and name, spans (from a plain seeder), requests, pieces and haves (from a super-seeder, whose
offers are haves: a downloader announces nothing to a seeder, which has every piece, MSG-22),
and the SHUTDOWN error the downloader sends when it leaves. Needs root (capturing) and Debian's
tcpdump and tshark; skips with the reason elsewhere.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from .conftest import DONE_TIMEOUT, EVENT_TIMEOUT, Swarm, random_file

KNOCK = 9  # UDP "discard": nobody listens on loopback here
DISSECTOR = Path(__file__).resolve().parents[3] / "tools" / "wireshark" / "p2pshare.lua"


def _missing() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "capturing on loopback needs root on Linux"
    for tool in ("tcpdump", "tshark"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package {tool})"
    return None


_why = _missing()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(_why is not None, reason=_why or ""),
]


async def test_every_frame_of_a_real_transfer_is_decoded(swarm: Swarm, tmp_path: Path) -> None:
    source = tmp_path / "example.bin"
    random_file(source, 5 * 16384 + 100)
    ports, links = [], []
    for name, extra in (("seeder", ()), ("super", ("--super-seed",))):
        seeder, link = await swarm.seed(name, source, *extra)
        started = seeder.first("started")
        assert started is not None
        ports.append(int(started["listen_port"]))
        links.append(link)
    pcap = tmp_path / "transfer.pcap"
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-w", str(pcap),
         " or ".join([*(f"tcp port {port}" for port in ports), f"udp port {KNOCK}"])],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    knock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + EVENT_TIMEOUT

    def captured_so_far() -> None:
        """Knock (a UDP datagram to a port nobody uses, so the peers see nothing) until the
        knock is in the file: everything sent before it is then in the file too."""
        size = pcap.stat().st_size if pcap.exists() else 0
        while not pcap.exists() or pcap.stat().st_size <= max(size, 24):  # 24: the header
            assert time.monotonic() < deadline and dump.poll() is None, "tcpdump captures nothing"
            knock.sendto(b"knock", ("127.0.0.1", KNOCK))
            time.sleep(0.05)

    try:
        captured_so_far()  # tcpdump is capturing
        for name, link in zip(("leecher", "leecher2"), links, strict=True):
            leecher = await swarm.get(name, link, "--exit-when-done")
            assert await leecher.wait_exit(DONE_TIMEOUT) == 0, leecher.stderr
        captured_so_far()  # the whole transfer is in the file
    finally:
        knock.close()
        dump.terminate()
        dump.wait(10)
    fields = ["p2pshare.id", "p2pshare.length", "p2pshare.share_id", "p2pshare.name",
              "p2pshare.index", "p2pshare.code"]  # fmt: skip
    decoded = subprocess.run(
        ["tshark", "-X", f"lua_script:{DISSECTOR}",
         *(arg for port in ports for arg in ("-d", f"tcp.port=={port},p2pshare")),
         "-r", str(pcap), "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;",
         *(arg for name in fields for arg in ("-e", name))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert decoded.returncode == 0, decoded.stderr
    ids: Counter[int] = Counter()
    share_ids, names, codes = set(), set(), set()
    for line in decoded.stdout.splitlines():
        columns = line.split("\t")
        if not columns[0]:
            continue
        for value in columns[0].split(";"):
            ids[int(value, 16)] += 1
        share_ids.update(v for v in columns[2].split(";") if v)
        names.update(v for v in columns[3].split(";") if v)
        codes.update(int(v) for v in columns[5].split(";") if v)
    assert "Lua" not in decoded.stderr and "malformed" not in decoded.stdout.lower()
    assert ids[0x00] >= 5, ids  # the probe's, then both sides of each download connection
    assert ids[0x01] >= 4, ids  # both bitfields, twice
    # both offer extension SPAN: from the plain seeder the 6 pieces went as span_request/
    # span_data (one span or more); the super-seeder offered each piece by have (and each went
    # as request/piece, or in a span when two offered pieces were neighbours)
    assert ids[0x10] >= 1 and ids[0x11] >= 1 and ids[0x02] >= 6, ids
    assert ids[0x0C] >= 1 and ids[0x0D] >= 1  # the metainfo was fetched
    assert {s.replace(":", "") for s in share_ids} == {link.rsplit("/", 1)[1]}
    assert names == {"example.bin"}
    assert 16 in codes  # SHUTDOWN, when the downloader leaves [ERR-8]
