"""The how-to's example runs as the page says, and really downloads the file."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_loop.py"


def test_the_own_loop_example_downloads_the_file_it_shares() -> None:
    spec = importlib.util.spec_from_file_location("own_loop", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    _, original = example.make_share(200_000)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == (
        f"downloaded {len(original)} bytes; SHA-1 {hashlib.sha1(original).hexdigest()}"
    )
