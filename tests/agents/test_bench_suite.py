"""The agents' task suite (benchmarks/agents/tasks) is well formed, and each task's reference
fix resolves it by the suite's own judge: its fail_to_pass tests pass and its pass_to_pass
tests still do (real pytest runs in copies of the fixture repositories), while the repository
as it stands does not; a test writer's reference tests catch the task's mutant. The judge
refuses what is not a fix: no change, a change that does not apply, a change that breaks other
tests, tests that pass on the mutant too."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks.agents.scripted import RECORDED, write_all
from benchmarks.agents.suite import AGENTS, SuiteTask, evaluate, load_tasks, problems
from codeforge.changes import FileChange, diff_texts, parse_unified
from codeforge.platform.agents.replay import load_turns
from codeforge.platform.agents.tools import TOOLS

TASKS = load_tasks()
BY_ID = {t.id: t for t in TASKS}


def _reference(task: SuiteTask) -> list[FileChange]:
    return parse_unified(task.reference.read_text(encoding="utf-8"))


def _edit(task: SuiteTask, path: str, old: str, new: str) -> FileChange:
    text = (task.repo / path).read_text(encoding="utf-8")
    assert old in text
    change = diff_texts(path, text, text.replace(old, new))
    assert change is not None
    return change


def test_suite_has_three_tasks_per_agent_each_well_formed() -> None:
    counts = Counter(t.agent for t in TASKS)
    assert set(counts) == set(AGENTS) and min(counts.values()) >= 3, counts
    for task in TASKS:
        assert problems(task) == [], task.id
        lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in task.repo.rglob("*.py"))
        assert lines >= 300, f"{task.id}: a fixture of {lines} lines is too small for the context builder's recall"


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
    change = _edit(task, "ledger/discounts.py", "return self.off", "return min(self.off, net)")
    change.hunks[0].lines = [" no such line", *change.hunks[0].lines]
    judged = evaluate(task, [change], tmp_path / "w")
    assert not judged.resolved and "does not apply" in judged.note


def test_a_fix_that_breaks_other_tests_is_not_resolved(tmp_path: Path) -> None:
    task = BY_ID["ledger-voucher-cap"]
    fix = _reference(task)
    breaks = _edit(task, "ledger/tax.py", 'table.set("DE", "food", "0.07")', 'table.set("DE", "food", "0.08")')
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
