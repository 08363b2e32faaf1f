"""The agents' task suite (benchmarks/agents/tasks) is well formed, and each task's reference
fix resolves it by the suite's own judge: its fail_to_pass tests pass and its pass_to_pass
tests still do (real pytest runs in materialised starting states: the task's project from
benchmarks/agents/projects with its setup.patch), while the starting state as it is does not;
a test writer's reference tests catch the task's mutant. The judge refuses what is not a fix:
no change, a change that does not apply, a change that breaks other tests, tests that pass on
the mutant too. Materialising refuses an unknown project and a setup.patch that does not
apply, and gives what `git apply` gives."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.agents import suite
from benchmarks.agents.scripted import RECORDED, write_all
from benchmarks.agents.suite import (
    AGENTS,
    PROJECTS,
    SuiteTask,
    evaluate,
    load_task,
    load_tasks,
    materialise,
    problems,
)
from codeforge.catalog.errors import Conflict, NotFound
from codeforge.changes import FileChange, diff_texts, parse_unified
from codeforge.platform.agents.replay import load_turns
from codeforge.platform.agents.tools import TOOLS

TASKS = load_tasks()
BY_ID = {t.id: t for t in TASKS}


def _reference(task: SuiteTask) -> list[FileChange]:
    return parse_unified(task.reference.read_text(encoding="utf-8"))


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _edit(task: SuiteTask, start: Path, path: str, old: str, new: str) -> FileChange:
    text = (start / path).read_text(encoding="utf-8")
    assert old in text
    change = diff_texts(path, text, text.replace(old, new))
    assert change is not None
    return change


def test_suite_has_three_tasks_per_agent_each_well_formed(tmp_path: Path) -> None:
    counts = Counter(t.agent for t in TASKS)
    assert set(counts) == set(AGENTS) and min(counts.values()) >= 3, counts
    for task in TASKS:
        start = materialise(task, tmp_path / task.id)
        assert problems(task, start) == [], task.id
        lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in start.rglob("*.py"))
        assert lines >= 300, f"{task.id}: a fixture of {lines} lines is too small for the context builder's recall"


def test_each_project_is_stored_once_and_tasks_are_starting_states_of_it(tmp_path: Path) -> None:
    # (Hidden folders are tools' caches, .ruff_cache beside ruff.toml.)
    projects = {p.name for p in PROJECTS.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert projects == {t.project for t in TASKS}, "a project no task uses, or a task whose project is missing"
    for folder in (p for p in suite.TASKS.iterdir() if not p.name.startswith(".")):
        # A task folder holds its description and patches, no copy of a repository.
        assert not folder.is_dir() or {p.name for p in folder.iterdir()} <= {
            "task.json",
            "setup.patch",
            "reference.patch",
            "test.patch",
            "mutant.patch",
        }, folder
    for task in TASKS:
        start = _files(materialise(task, tmp_path / task.id))
        project = _files(task.project_root)
        if task.setup is None:
            assert start == project, task.id
            continue
        touched = {c.path for c in parse_unified(task.setup.read_text(encoding="utf-8"))}
        assert touched and all(start.get(p) != project.get(p) for p in touched), task.id
        assert {p: b for p, b in start.items() if p not in touched} == {
            p: b for p, b in project.items() if p not in touched
        }, task.id
        # git's own reading of the setup patch gives the same files, byte for byte.
        by_git = shutil.copytree(task.project_root, tmp_path / f"{task.id}-git")
        subprocess.run(["git", "apply", str(task.setup)], cwd=by_git, check=True, capture_output=True)
        assert _files(by_git) == start, task.id


def _copy_task(task: SuiteTask, root: Path, **changes: str) -> Path:
    folder = shutil.copytree(task.folder, root / task.id)
    data = json.loads((folder / "task.json").read_text(encoding="utf-8"))
    (folder / "task.json").write_text(json.dumps({**data, **changes}), encoding="utf-8")
    return folder


@pytest.mark.parametrize("project", ["nope", "", "../projects"])
def test_an_unknown_project_is_refused(project: str, tmp_path: Path) -> None:
    task = load_task(_copy_task(BY_ID["ledger-voucher-cap"], tmp_path / "tasks", project=project))
    with pytest.raises(NotFound, match="no project") as raised:
        materialise(task, tmp_path / "start")
    assert "task.json" in raised.value.fix and not (tmp_path / "start").exists()


def test_a_setup_patch_that_does_not_apply_is_refused(tmp_path: Path) -> None:
    # ledger-voucher-cap's patch takes the voucher cap out of ledger/discounts.py; on routekit
    # there is no such file, and on a ledger whose cap is already gone the hunk conflicts.
    wrong = load_task(_copy_task(BY_ID["ledger-voucher-cap"], tmp_path / "a", project="routekit"))
    with pytest.raises(Conflict, match=r"setup\.patch does not apply"):
        materialise(wrong, tmp_path / "start-a")
    assert not (tmp_path / "start-a").exists()
    projects = tmp_path / "projects"
    shutil.copytree(PROJECTS / "ledger", projects / "ledger")
    stale = load_task(BY_ID["ledger-voucher-cap"].folder, projects)
    materialise(stale, tmp_path / "start-b")
    shutil.copy(tmp_path / "start-b" / "ledger" / "discounts.py", projects / "ledger" / "ledger" / "discounts.py")
    with pytest.raises(Conflict, match=r"discounts\.py") as raised:
        materialise(stale, tmp_path / "start-c")
    assert "rewrite" in raised.value.fix


def test_recorded_runs_are_current_and_use_real_tools() -> None:
    assert write_all(check=True) == [], "run `python -m benchmarks.agents.scripted` after changing a task"
    for task in TASKS:
        turns = load_turns(RECORDED / f"{task.id}.json")
        names = [call["name"] for turn in turns for call in turn.get("tool_calls", [])]
        assert names[-1] == "finish" and all(n in TOOLS or n == "finish" for n in names), task.id


@pytest.mark.parametrize("task_id", sorted(BY_ID))
def test_reference_fix_resolves_the_task(task_id: str, tmp_path: Path) -> None:
    task = BY_ID[task_id]
    judged = evaluate(task, _reference(task), tmp_path / "fixed")
    assert judged.resolved, (judged.fail_to_pass, judged.pass_to_pass_broken, judged.note)
    if task.agent == "test_writer":
        assert judged.mutant_caught and judged.written_tests == task.added_files
        assert set(task.fail_to_pass) <= set(judged.fail_to_pass)
    else:
        assert set(judged.fail_to_pass.values()) == {"PASSED"}
    # The repository as the agent finds it is not resolved: the tests can fail.
    before = evaluate(task, [], tmp_path / "unfixed")
    assert not before.resolved
    if task.agent != "test_writer":
        assert all(outcome != "PASSED" for outcome in before.fail_to_pass.values()), before.fail_to_pass


def test_a_change_that_does_not_apply_is_not_resolved(tmp_path: Path) -> None:
    task = BY_ID["ledger-voucher-cap"]
    start = materialise(task, tmp_path / "start")
    change = _edit(task, start, "ledger/discounts.py", "return self.off", "return min(self.off, net)")
    change.hunks[0].lines = [" no such line", *change.hunks[0].lines]
    judged = evaluate(task, [change], tmp_path / "w")
    assert not judged.resolved and "does not apply" in judged.note


def test_a_fix_that_breaks_other_tests_is_not_resolved(tmp_path: Path) -> None:
    task = BY_ID["ledger-voucher-cap"]
    fix = _reference(task)
    start = materialise(task, tmp_path / "start")
    breaks = _edit(task, start, "ledger/tax.py", 'table.set("DE", "food", "0.07")', 'table.set("DE", "food", "0.08")')
    judged = evaluate(task, [*fix, breaks], tmp_path / "w")
    assert not judged.resolved
    assert judged.fail_to_pass == {"tests/test_invoice.py::test_voucher_larger_than_order": "PASSED"}
    assert judged.pass_to_pass_broken == ["tests/test_tax.py::test_category_rate_falls_back_to_standard"]


def test_weak_tests_that_pass_on_the_mutant_are_not_resolved(tmp_path: Path) -> None:
    task = BY_ID["routekit-dijkstra-tests"]
    weak = diff_texts(
        "tests/test_dijkstra.py",
        None,
        "from routekit import Graph, shortest_path\n\n\ndef test_one_edge():\n"
        "    g = Graph()\n    g.add_edge('A', 'B', 1)\n    assert shortest_path(g, 'A', 'B') == (1, ['A', 'B'])\n",
    )
    assert weak is not None
    judged = evaluate(task, [weak], tmp_path / "w")
    assert judged.written_tests == ["tests/test_dijkstra.py"]
    assert judged.fail_to_pass == {"tests/test_dijkstra.py::test_one_edge": "PASSED"}
    assert judged.mutant_caught is False and not judged.resolved


def test_unknown_task_is_refused() -> None:
    with pytest.raises(SystemExit, match="no such task: nope"):
        load_tasks(only=["nope"])
