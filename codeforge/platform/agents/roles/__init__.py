"""The four agents as data: a system prompt, the tools they may call and the check their own
work must pass before `finish` is accepted (run in the sandbox copy, never the model's word).
`prepare` runs once before the first model call: it may stop a run that cannot succeed (a
refactoring of code whose tests already fail) or hand the model what it should see first (the
failing test's output)."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from codeforge.platform.agents.task import Task

if TYPE_CHECKING:
    from codeforge.platform.agents.sandbox import Sandbox

__all__ = [
    "ALL_TOOLS",
    "READ_TOOLS",
    "ROLES",
    "RUN_TOOLS",
    "WRITE_TOOLS",
    "Baseline",
    "Check",
    "Preparation",
    "Role",
    "baseline",
    "changed_paths",
    "is_test_file",
    "run_command",
    "tail",
    "with_args",
]

READ_TOOLS = ("read_file", "search", "list_symbols")
WRITE_TOOLS = ("edit", "apply_patch", "write_file")
RUN_TOOLS = ("run", "run_tests")
ALL_TOOLS = (*READ_TOOLS, *WRITE_TOOLS, *RUN_TOOLS, "finish")

OUTPUT_CHARS = 4000  # of a check's output handed back to the model: its tail, where pytest sums up
CHECK_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Preparation:
    stop: str = ""  # non-empty: the run cannot succeed; this is the outcome's reason
    note: str = ""  # appended to the task message (e.g. the failing test's output)


# The files changed before this agent started (path → sha256 of their text then; "" when gone):
# an orchestrated run's later steps judge only their own changes.
Baseline = Mapping[str, str]
Check = Callable[["Sandbox", Task, Callable[[], bool], Baseline | None], tuple[bool, str]]
Prepare = Callable[["Sandbox", Task, Callable[[], bool]], Preparation]


def _nothing(sandbox: Sandbox, task: Task, cancelled: Callable[[], bool]) -> Preparation:
    return Preparation()


_COMMON = """\
You are CodeForge's {title}. You work in a private copy of the user's project: nothing you do \
reaches their files until they review your change. Paths are relative to the project root.

How to work:
- Look before you change: read the files involved (read_file, search, list_symbols).
- Change files with `edit` (exact search text that occurs once, then its replacement), \
`apply_patch` (a unified diff) or `write_file` (new files). Keep changes small and in the \
project's style.
- Run the tests (run_tests, or run for another command) to see the effect of a change.
- When the work is done call `finish` with a short summary of what you changed and why. \
finish is accepted only when {accepted}; otherwise you get the check's output and continue.

Your task: {instructions}"""


@dataclass(frozen=True)
class Role:
    name: str
    title: str
    tools: tuple[str, ...]
    instructions: str  # what this agent does, for its system prompt
    accepted: str  # when finish is accepted, for its system prompt
    check: Check
    before: Prepare = _nothing

    def system_prompt(self, task: Task, context_text: str) -> str:
        prompt = _COMMON.format(title=self.title, accepted=self.accepted, instructions=self.instructions)
        prompt += f"\n\nThe test command is `{task.test_command}`."
        if context_text.strip():
            prompt += "\n\nA map of the project (the files and symbols most related to the task):\n" + context_text
        return prompt

    def task_message(self, task: Task) -> str:
        lines = [task.description.strip() or f"({self.title} task without a description)"]
        if task.path:
            where = task.path
            if task.line:
                where += f", line {task.line}" + (f"-{task.end_line}" if task.end_line > task.line else "")
            lines.append(f"Where: {where}")
        if task.test:
            lines.append(f"Failing test: {task.test}")
        return "\n".join(lines)

    def prepare(self, sandbox: Sandbox, task: Task, *, cancelled: Callable[[], bool] = lambda: False) -> Preparation:
        return self.before(sandbox, task, cancelled)

    def accept(
        self,
        sandbox: Sandbox,
        task: Task,
        *,
        cancelled: Callable[[], bool] = lambda: False,
        since: Baseline | None = None,
    ) -> tuple[bool, str]:
        """(passed, what the check saw): the agent's own check before finish is allowed.
        `since` (from `baseline` when the agent started): changes made before it are not its own."""
        return self.check(sandbox, task, cancelled, since)


def tail(text: str, limit: int = OUTPUT_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def run_command(
    sandbox: Sandbox, command: str, cancelled: Callable[[], bool], timeout: float = CHECK_TIMEOUT_S
) -> tuple[bool, str]:
    """(passed, a line and the output's tail) for a command run in the sandbox."""
    result = sandbox.run(command, timeout=timeout, cancelled=cancelled)
    if result.timed_out:
        return False, f"`{command}` timed out after {timeout:.0f} s:\n{tail(result.output)}"
    status = "passed" if result.exit_code == 0 else f"failed (exit code {result.exit_code})"
    return result.exit_code == 0, f"`{command}` {status}:\n{tail(result.output)}"


def with_args(command: str, args: Iterable[str]) -> str:
    return " ".join([command, *(shlex.quote(a) for a in args)])


_TEST_DIRS = {"tests", "test", "__tests__", "spec"}


def is_test_file(path: str) -> bool:
    """Test files by the conventions of pytest, unittest, Go, Jest and RSpec."""
    p = PurePosixPath(path)
    name = p.name
    if any(part in _TEST_DIRS for part in p.parts[:-1]):
        return True
    stem = name.split(".", 1)[0]
    return (
        stem.startswith("test_")
        or stem.endswith(("_test", "_spec"))
        or ".test." in name
        or ".spec." in name
        or name == "conftest.py"
    )


def _digest(sandbox: Sandbox, path: str) -> str:
    try:
        return hashlib.sha256(sandbox.resolve(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def baseline(sandbox: Sandbox) -> dict[str, str]:
    """What the copy holds changed so far: path → sha256 of the file now ("" when deleted)."""
    return {c.path: _digest(sandbox, c.path) for c in sandbox.changes()}


def changed_paths(sandbox: Sandbox, *, since: Baseline | None = None, deleted: bool = False) -> list[str]:
    """The files changed in the copy (since `since`, when given); deleted ones only if `deleted`."""
    out: list[str] = []
    seen: set[str] = set()
    for change in sandbox.changes():
        seen.add(change.path)
        if since is not None and since.get(change.path) == _digest(sandbox, change.path):
            continue
        if change.status != "deleted" or deleted:
            out.append(change.path)
    # Changed before, back to the original text now: changed by this agent too.
    out += [p for p in (since or {}) if p not in seen and (deleted or _digest(sandbox, p))]
    return out


def _roles() -> dict[str, Role]:
    # The role modules import this one (Role, the helpers): imported here, after it is defined.
    from codeforge.platform.agents.roles.bug_fixer import BUG_FIXER
    from codeforge.platform.agents.roles.feature_builder import FEATURE_BUILDER
    from codeforge.platform.agents.roles.refactor import REFACTOR
    from codeforge.platform.agents.roles.test_writer import TEST_WRITER

    return {r.name: r for r in (BUG_FIXER, TEST_WRITER, REFACTOR, FEATURE_BUILDER)}


ROLES: dict[str, Role] = _roles()
