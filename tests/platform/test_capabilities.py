"""Capabilities plug in through one manifest each: the core names none of them, and a
capability outside this package (tests/fixtures/capability_demo) is picked up without an edit
to a shared file: its operation over HTTP, its pane, its background service and crash cleanup,
its codeforge.yaml section and its editor contribution."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import ValidationError

from codeforge.catalog import CATALOG, Operation
from codeforge.platform.manifest import Capability
from codeforge.platform.registry import discover_capabilities, editor_modules, project_file_model
from codeforge.projectfile import ProjectFile
from tests.conftest import ROOT, RunningPlatform

DEMO = "tests.fixtures.capability_demo"
PLATFORM = ROOT / "codeforge" / "platform"
# The platform's own machinery: what every operation goes through, not a capability it offers.
CORE_PACKAGES = {"api", "auth", "audit", "jobs", "migrations"}
CORE_MODULES = ["core.py", "registry.py", "lifecycle.py", "manifest.py", "context.py", "settings.py", "app.py"]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (functions and TYPE_CHECKING included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_the_core_imports_no_capability() -> None:
    capabilities = {c.package.rsplit(".", 1)[1] for c in discover_capabilities()} - CORE_PACKAGES
    assert {"databases", "env", "panes"} <= capabilities
    core = [PLATFORM / name for name in CORE_MODULES] + sorted((ROOT / "codeforge" / "cli").glob("*.py"))
    for path in core:
        named = {m.split(".")[2] for m in _imports(path) if m.startswith("codeforge.platform.")}
        assert not named & capabilities, f"{path.relative_to(ROOT)} imports capability {named & capabilities}"


def test_no_import_circle_in_the_platform() -> None:
    """core <-> bootstrap and the like: the platform's modules form no circle."""
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in PLATFORM.rglob("*.py")
    }
    graph = {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}
    for name, path in modules.items():  # a package re-exporting its own modules is no circle
        if path.name == "__init__.py":
            graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import circle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, [*path, node])
        done.add(node)

    for name in sorted(graph):
        visit(name, [])


def test_every_operation_belongs_to_a_capability_manifest() -> None:
    caps = discover_capabilities()
    declared = {
        value.name
        for cap in caps
        for module in cap.catalog
        for value in vars(importlib.import_module(module)).values()
        if isinstance(value, Operation)
    }
    assert set(CATALOG) <= declared, f"operations of no manifest's catalog: {set(CATALOG) - declared}"
    for cap in caps:
        for module in (*cap.models, *cap.services, *cap.panes):
            importlib.import_module(f"{cap.package}.{module}")


def _demo() -> Capability:
    caps = discover_capabilities([DEMO])
    return next(c for c in caps if c.name == "greetings")


def test_codeforge_yaml_takes_a_capability_section() -> None:
    model = project_file_model([*discover_capabilities(), _demo()])
    text = "project: demo\ngreetings:\n  greet: [Ada, Linus]\n  loud: true\ndatabases:\n  main: {}\n"
    parsed = model.model_validate(yaml.safe_load(text))
    assert parsed.greetings.greet == ["Ada", "Linus"] and parsed.greetings.loud  # type: ignore[attr-defined]
    assert isinstance(parsed, ProjectFile) and "main" in parsed.databases
    assert "greetings" in model.model_json_schema()["properties"]
    with pytest.raises(ValidationError, match=r"greetings\.shout"):
        model.model_validate({"greetings": {"shout": True}})
    with pytest.raises(ValidationError):  # ProjectFile itself is unchanged
        ProjectFile.model_validate({"greetings": {}})


def test_editor_contributions_come_from_the_manifest() -> None:
    from codeforge.lsp.capabilities import contributors
    from codeforge.lsp.contributions import Contributions

    contributions = Contributions()
    for contribute in contributors(list(editor_modules([_demo()]))):
        contribute(contributions)
    assert [d.name for d in contributions.documents] == ["greetings"]
    builtin = editor_modules(discover_capabilities())
    assert "codeforge.lsp.capabilities.databases" in builtin
    for module in builtin:
        importlib.import_module(module)


def test_entry_points_name_capabilities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution declares its capability in the `codeforge.capabilities` group."""
    dist = tmp_path / "codeforge_greetings-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: codeforge-greetings\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[codeforge.capabilities]\ngreetings = {DEMO}.capability\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = {c.name: c for c in discover_capabilities()}
    assert found["greetings"].package == DEMO and "databases" in found
    with pytest.raises(RuntimeError, match="declared twice"):
        discover_capabilities([DEMO])


def test_unknown_capability_package_is_refused() -> None:
    with pytest.raises(RuntimeError, match="CODEFORGE_CAPABILITIES"):
        discover_capabilities(["tests.fixtures"])


def test_a_capability_from_outside_runs_end_to_end(platform_factory) -> None:
    """Named in CODEFORGE_CAPABILITIES, the fixture capability gets its route, its pane, its
    background service (started before requests, stopped with the platform) and its crash
    cleanup (run at start)."""
    running: RunningPlatform = platform_factory(CODEFORGE_CAPABILITIES=DEMO)
    running.stop()
    leftovers = running.data_dir / "greetings"
    (leftovers / "half-done.leftover").write_text("left by a killed process")
    (leftovers / "ticker.stopped").unlink()  # written by the first run's stop
    running.start()
    auth = {"Authorization": f"Bearer {running.token}"}
    said = httpx.post(
        f"{running.url}/api/v1/greetings/say", json={"project": "demo", "name": "Ada", "times": 2}, headers=auth
    )
    assert said.status_code == 200, said.text
    body = said.json()
    assert body["text"] == "Hello, Ada! Hello, Ada! (from project demo)"
    assert body["ticks"] >= 1 and body["cleaned"] == ["half-done.leftover"]
    assert not (leftovers / "half-done.leftover").exists()

    bad = httpx.post(
        f"{running.url}/api/v1/greetings/say", json={"project": "demo", "name": "Ada", "times": 9}, headers=auth
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "times"
    catalog = httpx.get(f"{running.url}/api/v1/catalog", headers=auth).json()
    assert "greetings.say" in {op["name"] for op in catalog}

    link = httpx.post(f"{running.url}/api/v1/panes/open", json={"project": "demo", "pane": "greetings"}, headers=auth)
    assert link.status_code == 200, link.text
    page = httpx.get(link.json()["url"] + "&format=text")
    assert page.status_code == 200 and "Greetings of demo" in page.text

    cli = subprocess.run(
        [sys.executable, "-m", "codeforge", "greetings", "say", "Linus", "--json"],
        env=running.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["text"] == "Hello, Linus! (from project demo)"

    assert "Greetings (a test fixture): say hello with `codeforge greetings say NAME`" in running.logs()  # up's banner

    running.stop()
    assert (leftovers / "ticker.stopped").exists(), "the lifecycle stops background services with the platform"


class _Recorder:
    """A background service that notes its start and stop; `fail` makes its stop raise."""

    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name, self.log, self.fail = name, log, fail

    def start(self) -> None:
        self.log.append(f"start {self.name}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")
        if self.fail:
            raise RuntimeError("will not stop")


def test_lifecycle_cleans_up_first_and_stops_in_reverse(tmp_path: Path) -> None:
    from codeforge.platform.crypto import Cipher
    from codeforge.platform.db import Database
    from codeforge.platform.jobs.signals import JobSignals
    from codeforge.platform.jobs.store import JobStore
    from codeforge.platform.lifecycle import Lifecycle
    from codeforge.platform.manifest import Background, CrashCleanup, Runtime
    from codeforge.platform.settings import Settings

    log: list[str] = []

    def broken(rt: Runtime) -> list[str]:
        log.append("cleanup broken")
        raise RuntimeError("a cleanup that fails must not stop the platform")

    first = Capability(
        "first",
        "First",
        background=(Background("a", lambda rt: _Recorder("a", log, fail=True)),),
        cleanup=(CrashCleanup("broken", broken),),
    )
    second = Capability(
        "second",
        "Second",
        background=(Background("b", lambda rt: _Recorder("b", log)),),
        cleanup=(CrashCleanup("ok", lambda rt: log.append("cleanup ok") or []),),
    )
    settings = Settings(data_dir=tmp_path)
    db = Database(f"sqlite:///{tmp_path / 'state.db'}")
    lifecycle = Lifecycle(
        [first, second], Runtime(db, settings, Cipher(settings.fernet_key()), JobStore(db, JobSignals()))
    )
    lifecycle.start()
    assert log == ["cleanup broken", "cleanup ok", "start a", "start b"]
    assert lifecycle.running == ["first: a", "second: b"]
    lifecycle.stop()
    assert log[-2:] == ["stop b", "stop a"] and lifecycle.running == []
    db.dispose()
