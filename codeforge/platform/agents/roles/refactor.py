"""Refactor: a described refactoring of a file or a selection. Refused at once when the tests
fail before any change (a refactoring keeps behaviour, which failing tests cannot show);
accepted when the code changed and the tests still pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from codeforge.platform.agents.roles import ALL_TOOLS, Baseline, Preparation, Role, changed_paths, run_command
from codeforge.platform.agents.task import Task

if TYPE_CHECKING:
    from codeforge.platform.agents.sandbox import Sandbox

__all__ = ["REFACTOR"]


def _before(sandbox: Sandbox, task: Task, cancelled: Callable[[], bool]) -> Preparation:
    passed, output = run_command(sandbox, task.test_command, cancelled)
    if not passed:
        return Preparation(
            stop=(
                "the tests fail before the refactoring, so they cannot show it keeps behaviour: "
                f"fix them first (the Bug Fixer can), then refactor. {output}"
            )
        )
    return Preparation()


def _check(sandbox: Sandbox, task: Task, cancelled: Callable[[], bool], since: Baseline | None) -> tuple[bool, str]:
    if not changed_paths(sandbox, since=since, deleted=True):
        return False, "nothing changed yet: make the refactoring, then finish"
    passed, output = run_command(sandbox, task.test_command, cancelled)
    if not passed:
        return False, f"the tests passed before the refactoring and must pass after it: {output}"
    return True, output


REFACTOR = Role(
    name="refactor",
    title="Refactoring agent",
    tools=ALL_TOOLS,
    instructions=(
        "make the refactoring described below, keeping behaviour exactly as it is (the tests pass before "
        "and must pass after). Change the code named below and its callers as needed; do not change tests "
        "unless the refactoring renames what they use."
    ),
    accepted="the code changed and the tests still pass",
    check=_check,
    before=_before,
)
