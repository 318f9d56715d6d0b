"""The core is sans-IO: no module of p2pshare_core may import I/O or concurrency machinery or
touch files. Checked on the source with ast, so a new module cannot slip through."""

from __future__ import annotations

import ast
from pathlib import Path

import p2pshare_core

FORBIDDEN_MODULES = {"asyncio", "socket", "selectors", "threading", "subprocess", "io", "pathlib"}
FORBIDDEN_CALLS = {"open"}
FORBIDDEN_OS = {
    "open", "read", "write", "remove", "unlink", "rename", "replace", "mkdir", "makedirs",
    "rmdir", "listdir", "scandir", "stat", "walk", "fdopen", "truncate", "ftruncate", "fsync",
    "system", "popen", "fork", "sendfile",
}  # fmt: skip

SOURCE = Path(p2pshare_core.__file__).parent


def _violations(tree: ast.AST) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES | {"shutil", "tempfile"}:
                    found.append(f"import {alias.name}")
                if alias.name == "os.path":
                    found.append("import os.path")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if root in FORBIDDEN_MODULES | {"shutil", "tempfile"}:
                found.append(f"from {node.module} import ...")
            if node.module == "os.path":
                found.append("from os.path import ...")
            if root == "os":
                found += [
                    f"from os import {a.name}"
                    for a in node.names
                    if a.name in FORBIDDEN_OS | {"path"}
                ]
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                found.append(f"{func.id}() at line {node.lineno}")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in FORBIDDEN_OS | {"path"}
        ):
            found.append(f"os.{node.attr} at line {node.lineno}")  # os.urandom etc. are fine
    return found


def test_every_core_module_is_sans_io() -> None:
    modules = sorted(SOURCE.rglob("*.py"))
    assert len(modules) >= 9
    problems = {
        str(path.relative_to(SOURCE)): bad
        for path in modules
        if (bad := _violations(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert problems == {}


def test_the_checker_catches_violations() -> None:
    bad = """
import asyncio
import os.path
from socket import socket
from os import remove
import io
open("x")
os.unlink("y")
os.path.exists("z")
"""
    assert len(_violations(ast.parse(bad))) == 8
    assert _violations(ast.parse("import os\nimport struct\nx = os.urandom(20)\n")) == []
