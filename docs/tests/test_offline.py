"""The vendored scripts are the pinned ones: a tarball whose hash is not the registry's is
refused, and nothing is cached from it."""

from __future__ import annotations

import io
import sys
import tarfile
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hooks"))

import offline


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class _Response(io.BytesIO):
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_a_tarball_that_is_not_the_pinned_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = offline.PACKAGES[0]
    fake = _tarball(dict.fromkeys(package.files, b"alert('not mermaid')"))
    monkeypatch.setattr(offline, "CACHE", tmp_path)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: _Response(fake))
    with pytest.raises(RuntimeError, match="expected"):
        offline.fetch(package)
    assert list(tmp_path.iterdir()) == []
