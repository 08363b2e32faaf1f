"""The agents' task suite (benchmarks/agents/tasks/<id>/), in SWE-bench's shape: reading a
task, materialising its repository, applying its patches, running its tests and judging a
result by its fail_to_pass and pass_to_pass test ids.

As in SWE-bench, a fixture project is stored once (benchmarks/agents/projects/<project>/, in
its finished state: no known bug, every test written) and a task is a starting state of it:
its project plus, where the task's start differs (the bug put back, a TODO for the feature, the
tests to write taken out), the task's `setup.patch`. `materialise` writes that starting state
into a folder; everything that needs a task's files (the runner, the judge, the scripted
replays, the context builder's recall) reads them from there.

A task folder holds:

- `task.json`: `id`, `agent` (bug_fixer | test_writer | refactor | feature_builder), `project`
  (the folder under projects/), `problem` (the problem statement the agent gets), `focus`
  {`path`, `line`, `test`, `end_line`?}, `reference_files` (the files of the starting state the
  reference fix touches; for a test writer, whose reference only adds a test file, the module
  under test), `added_files` (files the reference adds), `fail_to_pass`, `pass_to_pass` (pytest
  node ids), `test_command`, `test_patch` (hidden acceptance tests applied after the agent's
  change, as SWE-bench's test patch; null when the failing test is in the repository already)
  and `mutant` (test writers: a patch of the module under test that the written tests must
  fail on);
- `setup.patch` (where the start differs from the project): project -> starting state;
- `reference.patch`: the reference fix (unified diff, `git apply` takes it);
- `test.patch`, `mutant.patch` where task.json names them.

All patches are unified diffs that `codeforge.changes.parse_unified` reads and `git apply` takes.

Judging (`evaluate`): the change is applied to a freshly materialised starting state, then
the test patch; the whole test command runs once (`-rA` names every test's outcome).
Resolved: every fail_to_pass test passes and every pass_to_pass test still does. Test
writers: their new test files pass (and every pass_to_pass test), and with the mutant
applied at least one of their tests fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeforge.catalog.errors import Conflict, NotFound
from codeforge.changes import FileChange, HunkConflict, PatchError, apply_change, parse_unified

__all__ = [
    "AGENTS",
    "PROJECTS",
    "PYTEST_ARGS",
    "TASKS",
    "Judgement",
    "SuiteTask",
    "TestRunner",
    "apply_changes",
    "apply_patch_file",
    "evaluate",
    "is_test_path",
    "load_task",
    "load_tasks",
    "materialise",
    "outcomes",
    "problems",
    "run_pytest",
]

TASKS = Path(__file__).resolve().parent / "tasks"
PROJECTS = Path(__file__).resolve().parent / "projects"
SETUP_PATCH = "setup.patch"
# Caches a tool left in a project folder are no part of it.
_SKIP = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache")
AGENTS = ("bug_fixer", "test_writer", "refactor", "feature_builder")
# -rA: a summary line per test ("PASSED tests/x.py::t"); no cache folder left in the copy.
PYTEST_ARGS = "-rA -q -p no:cacheprovider"
_OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|XPASS|XFAIL|SKIPPED) (.+?)(?: - .*)?$")

# (folder, command) -> (exit code, output): how the tests run (a sandbox for agents' results).
TestRunner = Callable[[Path, str], tuple[int, str]]


@dataclass(frozen=True)
class SuiteTask:
    id: str
    agent: str
    project: str
    problem: str
    path: str
    line: int
    end_line: int
    test: str
    reference_files: list[str]
    added_files: list[str]
    fail_to_pass: list[str]
    pass_to_pass: list[str]
    test_command: str
    folder: Path
    test_patch: str | None = None  # file name inside the folder
    mutant: str | None = None
    projects: Path = PROJECTS

    @property
    def project_root(self) -> Path:
        return self.projects / self.project

    @property
    def setup(self) -> Path | None:
        """The patch from the project to the task's starting state; None: it starts from the project."""
        path = self.folder / SETUP_PATCH
        return path if path.is_file() else None

    @property
    def reference(self) -> Path:
        return self.folder / "reference.patch"


def load_task(folder: Path, projects: Path = PROJECTS) -> SuiteTask:
    data: dict[str, Any] = json.loads((folder / "task.json").read_text(encoding="utf-8"))
    focus = data.get("focus") or {}
    return SuiteTask(
        id=data["id"],
        agent=data["agent"],
        project=data["project"],
        problem=data["problem"],
        path=focus.get("path", ""),
        line=int(focus.get("line", 0)),
        end_line=int(focus.get("end_line", 0)),
        test=focus.get("test", ""),
        reference_files=list(data.get("reference_files", [])),
        added_files=list(data.get("added_files", [])),
        fail_to_pass=list(data["fail_to_pass"]),
        pass_to_pass=list(data.get("pass_to_pass", [])),
        test_command=data.get("test_command", "python -m pytest -q"),
        folder=folder,
        test_patch=data.get("test_patch"),
        mutant=data.get("mutant"),
        projects=projects,
    )


def load_tasks(root: Path = TASKS, only: Sequence[str] = (), projects: Path = PROJECTS) -> list[SuiteTask]:
    tasks = [load_task(p.parent, projects) for p in sorted(root.glob("*/task.json"))]
    if only:
        unknown = sorted(set(only) - {t.id for t in tasks})
        if unknown:
            raise SystemExit(f"no such task: {', '.join(unknown)} (the tasks: {', '.join(t.id for t in tasks)})")
        tasks = [t for t in tasks if t.id in only]
    return tasks


def problems(task: SuiteTask, start: Path) -> list[str]:
    """What is wrong with a task's shape (empty when it is well formed); `start` is the task's
    starting state, as `materialise` wrote it."""
    out = []
    if task.id != task.folder.name:
        out.append(f"id {task.id!r} is not the folder's name")
    if task.agent not in AGENTS:
        out.append(f"agent {task.agent!r} is not one of {', '.join(AGENTS)}")
    if len(task.problem) < 80:
        out.append("the problem statement is too short to act on")
    if not (start / task.path).is_file():
        out.append(f"focus path {task.path!r} is not a file of the starting state")
    elif not 1 <= task.line <= len((start / task.path).read_text(encoding="utf-8").splitlines()):
        out.append(f"focus line {task.line} is outside {task.path}")
    if task.test and task.test not in task.fail_to_pass:
        out.append(f"focus test {task.test} is not among fail_to_pass")
    if not task.fail_to_pass:
        out.append("no fail_to_pass tests")
    if set(task.fail_to_pass) & set(task.pass_to_pass):
        out.append("a test is both fail_to_pass and pass_to_pass")
    for path in task.reference_files:
        if not (start / path).is_file():
            out.append(f"reference file {path} is not in the starting state")
    if not task.reference.is_file():
        out.append("no reference.patch")
    if task.agent in ("refactor", "feature_builder") and not task.test_patch:
        out.append("a refactor or feature task needs hidden acceptance tests (test_patch)")
    if (task.agent == "test_writer") != bool(task.mutant):
        out.append("test_writer tasks, and only they, name a mutant")
    for name in (task.test_patch, task.mutant):
        if name and not (task.folder / name).is_file():
            out.append(f"{name} is missing")
    return out


# ---- files ------------------------------------------------------------------------------


def materialise(task: SuiteTask, dest: Path) -> Path:
    """Writes the task's starting state into `dest` (which must not exist): a copy of its
    project with its setup.patch applied. Returns `dest`."""
    if not task.project or "/" in task.project or not task.project_root.is_dir():
        raise NotFound(
            f"task {task.id}: no project {task.project!r} under {task.projects}",
            fix=f'set "project" in {task.folder / "task.json"} to a folder of {task.projects}',
        )
    shutil.copytree(task.project_root, dest, ignore=_SKIP)
    if task.setup is not None:
        try:
            apply_patch_file(dest, task.setup)
        except (HunkConflict, PatchError, OSError) as exc:
            shutil.rmtree(dest, ignore_errors=True)
            raise Conflict(
                f"task {task.id}: {SETUP_PATCH} does not apply to project {task.project}: {exc}",
                fix=f"rewrite {task.setup} as the diff from {task.project_root} to the task's starting state",
            ) from exc
    return dest


def apply_changes(root: Path, changes: Sequence[FileChange]) -> None:
    """Writes the changes into `root`, as `agents.accept` writes a run's hunks to a workspace."""
    for change in changes:
        target = root / change.path
        old = target.read_text(encoding="utf-8") if target.is_file() else None
        new = apply_change(old, change)
        if new is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(new, encoding="utf-8")


def apply_patch_file(root: Path, patch: Path) -> list[str]:
    """Applies a unified diff file; returns the paths it touched."""
    changes = parse_unified(patch.read_text(encoding="utf-8"))
    apply_changes(root, changes)
    return [c.path for c in changes]


def is_test_path(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


# ---- tests ------------------------------------------------------------------------------


def run_pytest(folder: Path, command: str) -> tuple[int, str]:
    """The test command run directly with /bin/sh, `python` being this interpreter (for the
    reference fixes: trusted code; an agent's result runs in a sandbox)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(["/bin/sh", "-c", command], cwd=folder, capture_output=True, text=True, timeout=600, env=env)
    return done.returncode, done.stdout + done.stderr


def outcomes(output: str) -> dict[str, str]:
    """Test id -> PASSED | FAILED | ERROR | … from pytest's -rA summary."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        m = _OUTCOME.match(line.strip())
        if m:
            found[m.group(2)] = m.group(1)
    return found


def _command(task: SuiteTask, paths: Sequence[str] = ()) -> str:
    return " ".join([task.test_command, PYTEST_ARGS, *paths])


@dataclass
class Judgement:
    resolved: bool
    fail_to_pass: dict[str, str] = field(default_factory=dict)  # id -> outcome after the change
    pass_to_pass_broken: list[str] = field(default_factory=list)
    written_tests: list[str] = field(default_factory=list)  # test writers: their test files
    mutant_caught: bool | None = None
    note: str = ""


def evaluate(
    task: SuiteTask, changes: Sequence[FileChange], work: Path, *, runner: TestRunner = run_pytest
) -> Judgement:
    """Applies `changes` to the task's starting state, materialised in `work` (which must not
    exist), and judges them."""
    materialise(task, work)
    try:
        apply_changes(work, changes)
    except Exception as exc:  # HunkConflict, a path that is not a file: the change is unusable
        return Judgement(False, note=f"the change set does not apply: {exc}")
    if task.test_patch:
        apply_patch_file(work, task.folder / task.test_patch)
    _, output = runner(work, _command(task))
    seen = outcomes(output)
    broken = [t for t in task.pass_to_pass if seen.get(t) != "PASSED"]
    if task.agent != "test_writer":
        f2p = {t: seen.get(t, "MISSING") for t in task.fail_to_pass}
        resolved = not broken and all(v == "PASSED" for v in f2p.values())
        return Judgement(resolved, f2p, broken, note="" if seen else output[-2000:])
    # A test writer's own tests: the test files it added or changed.
    written = sorted(c.path for c in changes if c.status != "deleted" and is_test_path(c.path))
    if not written:
        return Judgement(False, pass_to_pass_broken=broken, note="no test file was written")
    theirs = {t: o for t, o in seen.items() if t.split("::", 1)[0] in written}
    if not theirs or any(o not in ("PASSED", "SKIPPED", "XFAIL") for o in theirs.values()):
        return Judgement(False, theirs, broken, written, note="the written tests do not all pass on the code")
    assert task.mutant is not None
    apply_patch_file(work, task.folder / task.mutant)
    _, mutated = runner(work, _command(task, written))
    after = outcomes(mutated)
    caught = any(after.get(t) in ("FAILED", "ERROR") for t in theirs) or (not after and "error" in mutated.lower())
    return Judgement(not broken and caught, theirs, broken, written, caught)
