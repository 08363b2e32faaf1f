"""What an agent run is asked (`Task`), within what (`Limits`), what it reports as it goes
(`Event`) and how it ends (`Outcome`): the shapes docs/agents.md fixes, shared by the loop, the
roles, the orchestrator, the job body and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["AGENTS", "Event", "EventKind", "Limits", "Outcome", "Task"]

# The agents a run may name; "orchestrator" plans steps for the other four.
AGENTS = ("bug_fixer", "test_writer", "refactor", "feature_builder", "orchestrator")

EventKind = Literal["step", "text", "tool", "result", "error"]


@dataclass
class Limits:
    """Caps on one run; the orchestrator shares them across all its steps."""

    max_steps: int = 30
    max_seconds: float = 600.0
    max_cost_usd: float | None = None


@dataclass
class Event:
    """One line of a run's transcript, streamed as progress: a step began, model text streamed,
    a tool ran (with a short summary), a tool's or a check's result, or an error."""

    kind: EventKind
    agent: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Task:
    agent: str  # bug_fixer | test_writer | refactor | feature_builder | orchestrator
    description: str  # what the user asked (the diagnostic, the comment, …)
    path: str = ""  # focus, workspace-relative
    line: int = 0  # 1-based; 0 when none
    end_line: int = 0
    test: str = ""  # a failing test id ("tests/test_x.py::test_y")
    test_command: str = "python -m pytest -q"


@dataclass
class Outcome:
    resolved: bool
    summary: str  # the agent's own summary when it finished, else what happened
    reason: str  # why not resolved (limit, cap, model error, check failed); "" when resolved
    steps: int
