"""Bad input gives a clear message and the documented exit code, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

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


def test_unreachable_peer(tmp_path: Path) -> None:
    _check(
        run_cli("get", f"127.0.0.1:{closed_port()}", "-o", str(tmp_path)),
        ExitCode.UNREACHABLE,
        "cannot reach",
    )


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


def test_output_directory_missing(tmp_path: Path) -> None:
    _check(
        run_cli("get", f"127.0.0.1:{closed_port()}", "-o", str(tmp_path / "missing")),
        ExitCode.FILESYSTEM,
        "not a directory",
    )


def test_help_documents_exit_codes() -> None:
    result = run_cli("get", "--help")
    assert result.returncode == 0
    assert "Exit codes" in result.stdout and "130" in result.stdout
    assert "--fault" not in result.stdout  # test hook stays hidden
