"""Bad input gives a clear message and the documented exit code, never a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from p2pshare_cli.exit_codes import ExitCode

from .conftest import closed_port, run_cli

pytestmark = pytest.mark.timeout(60)


def _check(result: object, code: int, *fragments: str) -> None:
    out = result.stdout + result.stderr  # type: ignore[attr-defined]
    assert result.returncode == code, out  # type: ignore[attr-defined]
    assert "Traceback" not in out
    for fragment in fragments:
        assert fragment.lower() in out.lower(), out


@pytest.mark.parametrize(
    ("link", "fragment"),
    [
        ("not-a-link", "HOST:PORT"),
        ("http://x:1/ab", "unsupported link"),
        ("p2pshare://127.0.0.1:5000/xyz", "share id"),
        ("127.0.0.1:99999", "port"),
        ("[::1:80", "]"),
    ],
)
def test_malformed_link(link: str, fragment: str) -> None:
    _check(run_cli("get", link), ExitCode.USAGE, fragment)


def test_refused_peer_is_retried_until_give_up_and_named(tmp_path: Path) -> None:
    """[BEH-14] A refused bootstrap peer is not fatal at once (the seeder may not be up yet):
    `get` retries with backoff, says what it waits for, and gives up after --give-up naming
    the real cause (the peer was reached and refused: not "cannot reach")."""
    port = closed_port()
    result = run_cli("get", f"127.0.0.1:{port}", "-o", str(tmp_path), "--give-up", "2", "--json")
    _check(result, ExitCode.UNREACHABLE, "gave up after", "refused")
    assert "cannot reach" not in result.stderr
    waiting = [json.loads(x) for x in result.stdout.splitlines() if '"waiting"' in x]
    assert waiting and f"127.0.0.1:{port}" in waiting[0]["waiting_for"]
    assert [w["retry_in"] for w in waiting][:2] == [1.0, 2.0][: len(waiting)]


def test_missing_file_to_share(tmp_path: Path) -> None:
    _check(run_cli("share", str(tmp_path / "nope.bin")), ExitCode.FILESYSTEM, "no such file")


def test_bad_piece_size(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    _check(run_cli("share", str(tmp_path / "f"), "--piece-size", "1000"), ExitCode.USAGE, "power")
    _check(run_cli("share", str(tmp_path / "f"), "--piece-size", "lots"), ExitCode.USAGE, "size")


def test_port_in_use(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        _check(
            run_cli("share", str(tmp_path / "f"), "--port", str(port)),
            ExitCode.PORT_IN_USE,
            "in use",
        )


def test_output_directory_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    _check(
        run_cli("get", f"127.0.0.1:{closed_port()}", "-o", str(tmp_path / "file")),
        ExitCode.USAGE,
        "is a file",
    )
    _check(  # a directory that cannot be created (its parent is a file): works even as root
        run_cli("get", f"127.0.0.1:{closed_port()}", "-o", str(tmp_path / "file" / "sub")),
        ExitCode.FILESYSTEM,
        "cannot create",
    )


def test_missing_output_directory_is_created(tmp_path: Path) -> None:
    out = tmp_path / "new" / "downloads"
    # the peer is unreachable, but only after the folder was made ready
    result = run_cli("get", f"127.0.0.1:{closed_port()}", "-o", str(out), "--give-up", "0.5")
    _check(result, ExitCode.UNREACHABLE, "")
    assert out.is_dir()


def test_help_documents_exit_codes() -> None:
    result = run_cli("get", "--help")
    assert result.returncode == 0
    assert "Exit codes" in result.stdout and "130" in result.stdout
    assert "--fault" not in result.stdout  # test hook stays hidden


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_disk_full_is_a_clear_error(tmp_path: Path, source: tuple[Path, str]) -> None:
    """A real write failure (file size limit, as when the disk fills up): exit 6, no traceback."""
    import resource

    path, _ = source
    seeder = subprocess.Popen(
        [sys.executable, "-m", "p2pshare_cli", "share", str(path), "--json", "--host", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert seeder.stdout is not None
        link = json.loads(seeder.stdout.readline())["link"]
        out = tmp_path / "out"
        out.mkdir()
        limit = 1024 * 1024  # smaller than the file: preallocation fails with EFBIG

        def small_files() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        result = subprocess.run(
            [sys.executable, "-m", "p2pshare_cli", "get", link, "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=30,
            preexec_fn=small_files,
        )
    finally:
        seeder.terminate()
        seeder.wait(10)
    _check(result, ExitCode.FILESYSTEM, "too large")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _check(
            run_cli("get", f"127.0.0.1:{closed_port()}", "-o", str(locked)),
            ExitCode.FILESYSTEM,
            "not writable",
        )
    finally:
        locked.chmod(0o700)


def test_peer_text_is_escaped_and_cut_before_it_reaches_the_terminal(tmp_path: Path) -> None:
    """[SEC-4] A peer's error reason with an OSC title sequence, CR/LF and a forged
    "Completed" line, 900 bytes long: shown escaped, on one line, cut short."""
    import struct
    import threading

    reason = ("\x1b]0;pwned\x07\r\nCompleted: /etc/passwd verified " + "A" * 900).encode()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer() -> None:  # an error frame (0x0F) instead of a handshake, then close
            server.settimeout(20)
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = server.accept()
                    payload = struct.pack(">H", 1) + reason
                    conn.sendall(struct.pack(">IB", 1 + len(payload), 0x0F) + payload)
                    conn.close()

        threading.Thread(target=answer, daemon=True).start()
        result = run_cli("get", f"127.0.0.1:{port}", "-o", str(tmp_path), "--give-up", "2")
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "\\x1b]0;pwned\\x07\\x0d\\x0aCompleted" in out
    error_lines = [line for line in out.splitlines() if "pwned" in line]
    assert len(error_lines) == 1 and len(error_lines[0]) < 700


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: os.mkfifo(p), "not a regular file"),
    ],
)
def test_what_cannot_be_shared_is_named(tmp_path: Path, make: Any, fragment: str) -> None:
    """A FIFO (or /dev/null) is 'not a regular file', not 'no such file' (a folder is shared
    as a folder share: test_folders.py)."""
    target = tmp_path / "thing"
    make(target)
    _check(run_cli("share", str(target)), ExitCode.FILESYSTEM, fragment)


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null")
def test_dev_null_is_not_a_regular_file() -> None:
    _check(run_cli("share", "/dev/null"), ExitCode.FILESYSTEM, "not a regular file")


def test_a_refused_name_suggests_share_name(tmp_path: Path) -> None:
    """'10:30.log' is not a portable name: the error says how to share it anyway, and --name
    does (its link then names the new name)."""
    source = tmp_path / "10:30.log"
    source.write_bytes(b"log line\n")
    _check(run_cli("share", str(source)), ExitCode.FILESYSTEM, "--name")
    proc = subprocess.Popen(
        [sys.executable, "-m", "p2pshare_cli", "share", str(source), "--name", "10-30.log",
         "--json", "--host", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        events = [json.loads(proc.stdout.readline()) for _ in range(2)]
        metadata = next(e for e in events if e["event"] == "metadata")
        assert metadata["name"] == "10-30.log"
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_mistyped_scheme_gets_a_suggestion() -> None:
    share_id = "ab" * 32
    _check(
        run_cli("get", f"p2pshare//127.0.0.1:7000/{share_id}"),
        ExitCode.USAGE,
        f"did you mean p2pshare://127.0.0.1:7000/{share_id}?",
    )


def test_a_share_id_alone_needs_lan_discovery() -> None:
    """[LINK-8] `get SHAREID` finds peers on the LAN; with --no-lan and no --peer it cannot."""
    for target in ("ab" * 32, f"p2pshare:///{'AB' * 32}"):
        _check(run_cli("get", target, "--no-lan"), ExitCode.USAGE, "needs LAN discovery")
