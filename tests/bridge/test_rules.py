"""`codeforge.bridge` never imports `codeforge.platform` or `codeforge.collab`: it reaches the
platform through `codeforge.client` only (docs/bridge.md). The exceptions are the
collaboration endpoint, `bridge/collab.py`, which hands websockets to `codeforge.collab`'s
rooms (docs/collab.md), and the calls' endpoint, `bridge/call.py` with its reporter
`bridge/call_report.py`, which hand them to `codeforge.collab.rtc` (docs/voice.md); the server
imports them only when it starts. Checked twice: every import
statement in the package's source (including those inside functions), and what importing
every module of the package really loads, in a fresh interpreter."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "codeforge" / "bridge"
FORBIDDEN = ("codeforge.platform", "codeforge.collab")
# May import codeforge.collab, never the platform.
ENDPOINTS = {PACKAGE / "collab.py", PACKAGE / "call.py", PACKAGE / "call_report.py"}


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            found += [
                (node.lineno, a.value)
                for a in node.args[:1]
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
    return found


def test_no_module_of_the_package_names_the_platform_or_collab() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) >= 8  # the package is where this test thinks it is
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sources
        for line, name in _imports(path)
        if _forbidden(name) and not (path in ENDPOINTS and name.startswith("codeforge.collab"))
    ]
    assert offenders == []


def test_importing_every_module_loads_neither() -> None:
    script = """
import importlib, json, pkgutil, sys
import codeforge.bridge as package
failed = {}
for info in pkgutil.walk_packages(package.__path__, "codeforge.bridge."):
    if info.name in ("codeforge.bridge.collab", "codeforge.bridge.call", "codeforge.bridge.call_report"):
        continue  # the endpoints: checked below
    try:
        importlib.import_module(info.name)
    except ImportError as exc:  # a part whose optional dependency is missing says so elsewhere
        failed[info.name] = str(exc)
print(json.dumps({"loaded": sorted(sys.modules), "failed": failed}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "codeforge.bridge.server" in result["loaded"] and "codeforge.bridge.connect" in result["loaded"]
    assert [name for name in result["loaded"] if _forbidden(name)] == []
    assert result["failed"] == {}


@pytest.mark.parametrize(
    ("endpoint", "uses"),
    [("codeforge.bridge.collab", "codeforge.collab.rooms"), ("codeforge.bridge.call", "codeforge.collab.rtc.call")],
)
def test_the_endpoints_load_no_platform(endpoint: str, uses: str) -> None:
    script = f"import json, sys, {endpoint}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert uses in loaded
    assert [name for name in loaded if name.startswith("codeforge.platform")] == []


def test_the_rule_checker_sees_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from codeforge.platform import db\n    import codeforge.collab.rooms\n")
    assert [name for _, name in _imports(bad) if _forbidden(name)] == [
        "codeforge.platform",
        "codeforge.platform.db",
        "codeforge.collab.rooms",
    ]
