"""`codeforge.collab` is a library the bridge and the language server use: it imports neither
the platform, the language server, the bridge nor the catalog (docs/collab.md). Checked on
every import statement of its source (inside functions too) and on what importing each of
its modules really loads, in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.bridge.test_rules import _imports
from tests.conftest import ROOT

PACKAGE = ROOT / "codeforge" / "collab"
FORBIDDEN = ("codeforge.platform", "codeforge.lsp", "codeforge.bridge", "codeforge.catalog")


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_no_module_of_collab_names_a_forbidden_package() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert {"room.py", "rooms.py", "protocol.py", "store.py", "access.py"} <= {p.name for p in sources}
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sources
        for line, name in _imports(path)
        if _forbidden(name)
    ]
    assert offenders == []


def test_importing_every_collab_module_loads_none_of_them() -> None:
    script = """
import importlib, json, pkgutil, sys
import codeforge.collab as package
for info in pkgutil.walk_packages(package.__path__, "codeforge.collab."):
    importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "codeforge.collab.rooms" in loaded
    assert [name for name in loaded if _forbidden(name)] == []


def test_the_checker_sees_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import codeforge.lsp.server\n    from codeforge.catalog import collab\n")
    assert [name for _, name in _imports(bad) if _forbidden(name)] == [
        "codeforge.lsp.server",
        "codeforge.catalog",
        "codeforge.catalog.collab",
    ]
