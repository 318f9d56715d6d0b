"""A user who only wants the command installs it without the repository's dev tools (#16).

Both ways the README shows are run for real, into throwaway folders, from uv's cache only
(--offline: the workspace's own `uv sync` already fetched every dependency): `uv tool install`
of the CLI package from a checkout, and `uv build` of wheels and sdists for the three packages,
whose wheels then install into a fresh virtual environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# The workspace packages the CLI needs, as wheel-name prefixes (the CLI depends on all of them)
PACKAGES = ("p2pshare_core", "p2pshare_node", "p2pshare_sim", "p2pshare_cli")
UV = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not Path(UV).exists(), reason="uv is not installed (make venv brings it)"),
]


def _uv(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [UV, *args], cwd=REPO, capture_output=True, text=True, timeout=180, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_uv_tool_install_from_a_checkout(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "UV_TOOL_DIR": str(tmp_path / "tools"),
        "UV_TOOL_BIN_DIR": str(tmp_path / "bin"),
    }
    _uv("tool", "install", "--offline", "--python", sys.executable, "./packages/p2pshare-cli",
        env=env)  # fmt: skip
    exe = tmp_path / "bin" / ("p2pshare.exe" if sys.platform == "win32" else "p2pshare")
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "p2pshare, version" in done.stdout, done.stderr


def test_uv_build_makes_wheels_and_sdists_that_install(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _uv("build", "--offline", "--all-packages", "-o", str(dist))
    names = sorted(p.name for p in dist.iterdir())
    for package in PACKAGES:
        assert any(n.startswith(package) and n.endswith(".whl") for n in names), names
        assert any(n.startswith(package) and n.endswith(".tar.gz") for n in names), names
    venv = tmp_path / "venv"
    _uv("venv", "--offline", "--python", sys.executable, str(venv))
    python = venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    wheels = [str(next(dist.glob(f"{package}-*.whl"))) for package in PACKAGES]
    _uv("pip", "install", "--offline", "--python", str(python), *wheels)
    done = subprocess.run(
        [str(python), "-m", "p2pshare_cli", "share", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--advertise" in done.stdout, done.stderr
