"""mkdocs hook: the site needs no network when it is read, served or opened from disk.

Material fetches two scripts from a CDN at view time: mermaid.js (unless a global `mermaid`
already exists) to draw diagrams, and, for a site opened from disk (Material's `offline`
plugin), the iframe-worker shim that runs search without a server. This hook ships pinned
copies of both with the site instead: each package tarball is taken from the npm registry (the
one place besides PyPI and Debian that CI and developers can reach), checked against the
registry's sha512, and its files cached under build/ (ignored), so a rebuild works offline.
Fonts are the system's (`theme.font: false` in mkdocs.yml), and the `privacy` plugin, with
fetching off, turns any other external asset into a warning, which `--strict` makes an error.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mkdocs.config.config_options import ExtraScriptValue
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "vendor"


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    integrity: str  # the registry's `dist.integrity` for the tarball
    files: dict[str, str]  # file in the tarball -> path in the site
    script: str  # the one the pages load
    polyfill: bool  # loaded in <head> before Material's bundle (else after it)

    @property
    def tarball(self) -> str:
        return f"https://registry.npmjs.org/{self.name}/-/{self.name}-{self.version}.tgz"


PACKAGES = (
    NpmPackage(
        name="mermaid",
        version="11.17.2",
        integrity="sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80/qt5gHO73aCleBBg==",
        files={
            "package/dist/mermaid.min.js": "assets/vendor/mermaid.min.js",
            "package/LICENSE": "assets/vendor/mermaid.LICENSE.txt",
        },
        script="assets/vendor/mermaid.min.js",
        polyfill=False,  # (Material looks for `mermaid` only once a page has been set up)
    ),
    NpmPackage(
        name="iframe-worker",
        version="1.0.4",
        integrity="sha512-roeaaI+Lg1LJNfgpCjoRe/+WzEjy9+Z08LoEvu85MCPbBjwm+qXz8Ag5U05lHa6V1CysZyGzE0SOkAtSUA5q7Q==",
        files={
            "package/shim/index.js": "assets/vendor/iframe-worker-shim.js",
            "package/LICENSE": "assets/vendor/iframe-worker.LICENSE.txt",
        },
        script="assets/vendor/iframe-worker-shim.js",
        polyfill=True,  # (the offline plugin adds its CDN copy only if none is listed)
    ),
)


@event_priority(100)  # before the offline plugin, which adds its CDN shim if none is listed
def on_config(config: MkDocsConfig) -> MkDocsConfig:
    for package in PACKAGES:
        if package.polyfill:
            config.extra.setdefault("polyfills", []).insert(0, package.script)
        else:
            config.extra_javascript.insert(0, ExtraScriptValue(package.script))
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for package in PACKAGES:
        for member, uri in package.files.items():
            path = vendored(package, member)
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def vendored(package: NpmPackage, member: str) -> Path:
    """The cached copy of one file of a package, fetched and verified if missing."""
    target = CACHE / f"{package.name}-{package.version}" / member
    if not target.exists():
        fetch(package)
    return target


def fetch(package: NpmPackage) -> None:
    """Download the pinned tarball, check it, and unpack only the files the site ships."""
    try:
        with urllib.request.urlopen(package.tarball, timeout=120) as response:
            data: bytes = response.read()
    except OSError as error:
        raise RuntimeError(
            f"the docs build ships {package.name} {package.version} with the site and fetches it"
            f" once from the npm registry (cached in {CACHE}): {package.tarball}: {error}"
        ) from error
    algorithm, _, expected = package.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise RuntimeError(f"{package.tarball}: {algorithm} {actual}, expected {expected}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in package.files:
            source = archive.extractfile(member)
            if source is None:
                raise RuntimeError(f"{package.tarball} has no file {member}")
            target = CACHE / f"{package.name}-{package.version}" / member
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(target.suffix + ".part")
            partial.write_bytes(source.read())
            partial.replace(target)  # (whole files only: an interrupted fetch leaves no cache)
