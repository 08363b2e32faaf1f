"""The agents' engine (model access, the codebase map, the sandbox, the tools, the loop, the
orchestrator) is a library: the benchmarks drive it without a platform. Only the capability's
own platform modules (the manifest, tables, operations, the job body, the pane) reach the rest
of the platform (docs/agents.md, "Modules"). Checked on every import statement of the
engine's source, inside functions too."""

from __future__ import annotations

from tests.bridge.test_rules import _imports
from tests.conftest import ROOT

PACKAGE = ROOT / "codeforge" / "platform" / "agents"
# The capability's platform side: everything else is the engine.
PLATFORM_SIDE = {"capability.py", "models.py", "service.py", "runs.py", "pane.py", "settings.py"}
ALLOWED = ("codeforge.platform.agents", "codeforge.catalog.errors", "codeforge.changes")
FORBIDDEN_THIRD_PARTY = ("fastapi", "sqlalchemy", "starlette")


def _offends(name: str) -> bool:
    if any(name == a or name.startswith(a + ".") for a in ALLOWED):
        return False
    if name == "codeforge" or name.startswith("codeforge."):
        return True
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN_THIRD_PARTY)


def test_the_engine_imports_nothing_of_the_platform() -> None:
    engine = [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).as_posix() not in PLATFORM_SIDE]
    assert len(engine) > 5
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in engine
        for line, name in _imports(path)
        if _offends(name)
    ]
    assert offenders == []


def test_the_checker_sees_an_offender(tmp_path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f():\n    from codeforge.platform.context import Context\n    import sqlalchemy\n"
        "from codeforge.platform.agents.model import ModelClient\n"
    )
    assert [name for _, name in _imports(bad) if _offends(name)] == [
        "codeforge.platform.context",
        "codeforge.platform.context.Context",
        "sqlalchemy",
    ]
