"""Bug Fixer: from a failing test or a diagnostic (path:line message) to a fix. Accepted when
the failing test passes (the whole test command when no test is named) and the rest of the
tests still pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from codeforge.platform.agents.roles import ALL_TOOLS, Baseline, Preparation, Role, run_command, with_args
from codeforge.platform.agents.task import Task

if TYPE_CHECKING:
    from codeforge.platform.agents.sandbox import Sandbox

__all__ = ["BUG_FIXER"]


def _before(sandbox: Sandbox, task: Task, cancelled: Callable[[], bool]) -> Preparation:
    # The model's first look at the failure: the test's own output, not only its name.
    command = with_args(task.test_command, [task.test]) if task.test else task.test_command
    passed, output = run_command(sandbox, command, cancelled)
    if passed:
        return Preparation(note=f"Before any change, {output}\n(It passes now: look at the described problem.)")
    return Preparation(note=f"Before any change, {output}")


def _check(sandbox: Sandbox, task: Task, cancelled: Callable[[], bool], since: Baseline | None) -> tuple[bool, str]:
    if task.test:
        passed, output = run_command(sandbox, with_args(task.test_command, [task.test]), cancelled)
        if not passed:
            return False, f"the failing test {task.test} still fails: {output}"
    passed, output = run_command(sandbox, task.test_command, cancelled)
    if not passed:
        return False, f"the other tests must still pass: {output}" if task.test else f"the tests must pass: {output}"
    return True, output


BUG_FIXER = Role(
    name="bug_fixer",
    title="Bug Fixer",
    tools=ALL_TOOLS,
    instructions=(
        "find the cause of the failing test or the diagnostic below and fix the code (not the test, "
        "unless the test itself is wrong). Reproduce the failure first, then change as little as needed."
    ),
    accepted="the failing test passes and the other tests still pass",
    check=_check,
    before=_before,
)
