"""Feature Builder: a feature from a description, with tests. Accepted when some test file was
added or changed and the test command passes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from codeforge.platform.agents.roles import ALL_TOOLS, Baseline, Role, changed_paths, is_test_file, run_command
from codeforge.platform.agents.task import Task

if TYPE_CHECKING:
    from codeforge.platform.agents.sandbox import Sandbox

__all__ = ["FEATURE_BUILDER"]


def _check(sandbox: Sandbox, task: Task, cancelled: Callable[[], bool], since: Baseline | None) -> tuple[bool, str]:
    changed = changed_paths(sandbox, since=since)
    if not any(is_test_file(p) for p in changed):
        listed = ", ".join(changed) or "nothing"
        return False, f"no test file was added or changed (changed: {listed}): add tests for the feature"
    if not any(not is_test_file(p) for p in changed):
        return False, "only test files changed: implement the feature too"
    passed, output = run_command(sandbox, task.test_command, cancelled)
    if not passed:
        return False, f"the tests must pass: {output}"
    return True, output


FEATURE_BUILDER = Role(
    name="feature_builder",
    title="Feature Builder",
    tools=ALL_TOOLS,
    instructions=(
        "build the feature described below (often a comment in the code says what is wanted), and add "
        "tests for it next to the project's other tests."
    ),
    accepted="a test file was added or changed, the feature's code changed and the test command passes",
    check=_check,
)
