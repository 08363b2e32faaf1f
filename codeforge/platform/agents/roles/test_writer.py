"""Test Writer: tests for a function or a module. Accepted when the new or changed test files
pass on the current code and fail on at least one mutant of the target (mutants.py applies them
in the sandbox copy and restores the file): tests that pass on broken code too test nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from codeforge.platform.agents.mutants import find_killer
from codeforge.platform.agents.roles import (
    ALL_TOOLS,
    Baseline,
    Preparation,
    Role,
    changed_paths,
    is_test_file,
    run_command,
    with_args,
)
from codeforge.platform.agents.task import Task

if TYPE_CHECKING:
    from codeforge.platform.agents.sandbox import Sandbox

__all__ = ["MUTANTS_TRIED", "TEST_WRITER"]

MUTANTS_TRIED = 30  # at most, per check; the first one the tests fail on ends it
MUTANT_TIMEOUT_S = 60.0


def _before(sandbox: Sandbox, task: Task, cancelled: Callable[[], bool]) -> Preparation:
    if not task.path:
        return Preparation(
            stop="the Test Writer needs a target: give the path (and line) of the function or module to test"
        )
    try:
        exists = sandbox.resolve(task.path).is_file()
    except Exception as exc:  # OutsideWorkspace: the path escapes the project
        return Preparation(stop=f"the target {task.path} is not a file of the project: {exc}")
    if not exists:
        return Preparation(stop=f"the target {task.path} does not exist in the project: give an existing file's path")
    return Preparation()


def _check(sandbox: Sandbox, task: Task, cancelled: Callable[[], bool], since: Baseline | None) -> tuple[bool, str]:
    changed = changed_paths(sandbox, since=since)
    tests = [p for p in changed if is_test_file(p) and p != task.path]
    others = [p for p in changed if p not in tests]
    if others:
        return False, f"the Test Writer changes tests only, and {', '.join(others)} changed: revert that, then finish"
    if not tests:
        return False, "no test file was added or changed: write the tests first"
    command = with_args(task.test_command, tests)
    passed, output = run_command(sandbox, command, cancelled)
    if not passed:
        return False, f"the new tests must pass on the current code: {output}"
    if not task.path.endswith(".py"):
        return True, f"{output}\n(no mutant check: mutants are made of Python modules only)"
    check = find_killer(
        sandbox,
        task.path,
        command,
        line=task.line,
        end_line=task.end_line,
        limit=MUTANTS_TRIED,
        timeout=MUTANT_TIMEOUT_S,
        cancelled=cancelled,
    )
    if check.killed is None:
        return False, check.message
    return True, f"{output}\n{check.message}"


TEST_WRITER = Role(
    name="test_writer",
    title="Test Writer",
    tools=ALL_TOOLS,
    instructions=(
        "write tests for the function or module named below, in the project's test layout and style. Do not "
        "change the code under test. Assert exact results, edge cases and errors: the tests must fail when "
        "the code is subtly wrong (a comparison flipped, a constant changed, a return value dropped)."
    ),
    accepted=(
        "your new or changed test files pass on the current code and fail on at least one mutant of the "
        "target (a small deliberate bug the check inserts and removes again)"
    ),
    check=_check,
    before=_before,
)
