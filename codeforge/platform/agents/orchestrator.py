"""The orchestrator: splits a request into steps for the agents and runs them one after another
in the same sandbox copy, within one set of limits (steps, time and cost shared by all steps).

The plan comes from the model (a JSON list of {agent, task}); an answer that is not such a list
falls back to the fixed plan: the Feature Builder, then the Test Writer (when the request names
a Python file), then the Bug Fixer while the tests fail, a few rounds at most. Each step's
progress is an event ("step 2/3 test_writer: …"); a cancel raises ModelCancelled from whichever
step is running, so the job stores nothing."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codeforge.catalog.errors import BadInput
from codeforge.platform.agents.context import Focus
from codeforge.platform.agents.loop import AgentLoop
from codeforge.platform.agents.model import BudgetExceeded, ModelCancelled, ModelClient, ModelFailure
from codeforge.platform.agents.roles import ROLES, run_command, tail
from codeforge.platform.agents.sandbox import CommandCancelled
from codeforge.platform.agents.task import AGENTS, Event, Limits, Outcome, Task

if TYPE_CHECKING:
    from codeforge.platform.agents.context import RepoMap
    from codeforge.platform.agents.sandbox import Sandbox

__all__ = ["FIX_ROUNDS", "MAX_PLAN_STEPS", "Orchestrator", "Step", "fallback_plan", "parse_plan"]

MAX_PLAN_STEPS = 6
FIX_ROUNDS = 2  # Bug Fixer rounds after the plan while the tests fail
PLAN_MAP_TOKENS = 1500
NAME = "orchestrator"

_PLANNER = """\
You are CodeForge's orchestrator. Split the developer's request into steps, each for one of these agents:
- feature_builder: builds a feature from a description, with tests;
- test_writer: writes tests for a function or module (tests that catch bugs in it);
- refactor: a described refactoring, behaviour unchanged;
- bug_fixer: makes failing tests pass.
Answer with only a JSON list, at most {max_steps} steps, in order, e.g.
[{{"agent": "feature_builder", "task": "…"}}, {{"agent": "test_writer", "task": "…"}}]
Each task says exactly what that agent should do. Use as few steps as the request needs."""


@dataclass(frozen=True)
class Step:
    agent: str  # one of ROLES
    task: str


def parse_plan(text: str) -> list[Step] | str:
    """The steps of a plan answer, or why it is not a usable plan. Tolerates prose and code
    fences around the JSON list; refuses unknown agents, empty tasks and too many steps."""
    match = re.search(r"\[.*\]", text, re.DOTALL)
    if not match:
        return "no JSON list in the answer"
    try:
        data: Any = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        return f"the list is not valid JSON ({exc.msg})"
    if not isinstance(data, list) or not data:
        return "the plan is empty"
    if len(data) > MAX_PLAN_STEPS:
        return f"{len(data)} steps, more than {MAX_PLAN_STEPS}"
    steps = []
    for n, item in enumerate(data, 1):
        if not isinstance(item, dict):
            return f"step {n} is not an object"
        agent, what = item.get("agent"), item.get("task")
        if agent not in ROLES:
            return f"step {n} names no known agent ({agent!r}; known: {', '.join(ROLES)})"
        if not isinstance(what, str) or not what.strip():
            return f"step {n} has no task"
        steps.append(Step(agent, what.strip()))
    return steps


def fallback_plan(task: Task) -> list[Step]:
    steps = [Step("feature_builder", task.description)]
    if task.path.endswith(".py"):
        steps.append(
            Step("test_writer", f"Write tests for what {task.path} now does (the feature: {task.description})")
        )
    return steps


class Orchestrator:
    def __init__(
        self,
        client: ModelClient,
        sandbox: Sandbox,
        context: RepoMap | None,
        *,
        limits: Limits,
        on_event: Callable[[Event], None] = lambda e: None,
        cancelled: Callable[[], bool] = lambda: False,
        fix_rounds: int = FIX_ROUNDS,
        clock: Callable[[], float] = time.monotonic,
        **loop_options: Any,
    ) -> None:
        self.client = client
        self.sandbox = sandbox
        self.context = context
        self.limits = limits
        self.on_event = on_event
        self.cancelled = cancelled
        self.fix_rounds = fix_rounds
        self.clock = clock
        self.loop_options = loop_options

    def run(self, task: Task) -> Outcome:
        if task.agent != NAME:
            role = ROLES.get(task.agent)
            if role is None:
                raise BadInput(f"there is no agent {task.agent!r}", fix=f"use one of {', '.join(AGENTS)}")
            return self._loop(self.limits).run(role, task)
        return _Plan(self, task).run()

    def _loop(self, limits: Limits) -> AgentLoop:
        return AgentLoop(
            self.client,
            self.sandbox,
            self.context,
            limits=limits,
            on_event=self.on_event,
            cancelled=self.cancelled,
            clock=self.clock,
            **self.loop_options,
        )

    def _emit(self, kind: Any, message: str, data: dict[str, Any] | None = None) -> None:
        self.on_event(Event(kind, NAME, message, data or {}))


class _Plan:
    """One orchestrated run: the shared budget and the steps done so far."""

    def __init__(self, orch: Orchestrator, task: Task) -> None:
        self.o = orch
        self.task = task
        self.deadline = orch.clock() + orch.limits.max_seconds
        self.cost_base = orch.client.meter.cost_usd
        self.steps_used = 0
        self.summaries: list[str] = []

    def run(self) -> Outcome:
        try:
            return self._run()
        except CommandCancelled:  # the fix rounds' test runs see only the cancel
            raise ModelCancelled("the run was cancelled") from None

    def _run(self) -> Outcome:
        planned = self._plan()
        if isinstance(planned, Outcome):
            return planned
        for n, step in enumerate(planned, 1):
            outcome = self._step(step, f"{n}/{len(planned)}")
            if outcome is not None:
                return outcome
        for round_ in range(1, self.o.fix_rounds + 1):
            passed, output = run_command(self.o.sandbox, self.task.test_command, self.o.cancelled)
            self._check_cancel()
            if passed:
                break
            fix = Step("bug_fixer", f"The tests fail after the previous steps; make them pass.\n{tail(output, 2000)}")
            outcome = self._step(fix, f"fix {round_}/{self.o.fix_rounds}")
            if outcome is not None:
                return outcome
        else:
            passed, output = run_command(self.o.sandbox, self.task.test_command, self.o.cancelled)
            self._check_cancel()
            if not passed:
                reason = f"the tests still fail after {self.o.fix_rounds} Bug Fixer round(s): {tail(output, 300)}"
                return self._end(False, reason)
        return self._end(True, "")

    def _plan(self) -> list[Step] | Outcome:
        o = self.o
        limit = self._remaining()
        if isinstance(limit, str):
            return self._end(False, limit)
        self.steps_used += 1
        o._emit("step", "planning the steps", {"plan_step": "plan"})
        map_text = ""
        if o.context is not None:
            map_text = o.context.render(Focus(paths=[self.task.path] if self.task.path else []), PLAN_MAP_TOKENS)
        system = _PLANNER.format(max_steps=MAX_PLAN_STEPS)
        if map_text.strip():
            system += "\n\nA map of the project:\n" + map_text
        request = self.task.description + (f"\n(Where: {self.task.path})" if self.task.path else "")
        messages = [{"role": "system", "content": system}, {"role": "user", "content": request}]
        try:
            turn = o.client.complete(
                messages,
                None,
                on_text=lambda text: o._emit("text", text),
                cancelled=lambda: o.cancelled() or o.clock() >= self.deadline,
            )
        except ModelCancelled:
            self._check_cancel()
            return self._end(False, f"the time limit was reached ({o.limits.max_seconds:g} s)")
        except BudgetExceeded as exc:
            return self._end(False, f"cost cap: {exc.message}")
        except ModelFailure as exc:
            return self._end(False, f"model error: {exc.message}")
        plan = parse_plan(turn.text)
        if isinstance(plan, str):
            plan = fallback_plan(self.task)
            o._emit("error", f"the model's plan is not usable ({parse_plan(turn.text)}): the fixed plan instead")
        o._emit("result", "plan: " + " → ".join(s.agent for s in plan), {"plan": [s.__dict__ for s in plan]})
        return plan

    def _step(self, step: Step, label: str) -> Outcome | None:
        """Runs one step; an Outcome when the run ends here, None to go on."""
        o = self.o
        self._check_cancel()
        limits = self._remaining()
        if isinstance(limits, str):
            return self._end(False, f"before step {label} {step.agent}: {limits}")
        first = step.task.strip().splitlines()[0] if step.task.strip() else ""
        o._emit("step", f"step {label} {step.agent}: {first[:100]}", {"plan_step": label, "agent": step.agent})
        t = self.task
        sub = Task(
            agent=step.agent,
            description=f"{step.task}\n\n(Part of the request: {t.description})",
            path=t.path,
            line=t.line,
            end_line=t.end_line,
            test=t.test if step.agent == "bug_fixer" else "",
            test_command=t.test_command,
        )
        outcome = o._loop(limits).run(ROLES[step.agent], sub)
        self.steps_used += outcome.steps
        if not outcome.resolved:
            return self._end(False, f"step {label} {step.agent}: {outcome.reason}")
        self.summaries.append(f"{step.agent}: {outcome.summary}")
        o._emit("result", f"step {label} {step.agent} done: {outcome.summary[:100]}")
        return None

    def _remaining(self) -> Limits | str:
        o = self.o
        lim = o.limits
        steps = lim.max_steps - self.steps_used
        if steps <= 0:
            return f"the step limit was reached ({lim.max_steps} steps across all steps)"
        seconds = self.deadline - o.clock()
        if seconds <= 0:
            return f"the time limit was reached ({lim.max_seconds:g} s across all steps)"
        cost: float | None = None
        if lim.max_cost_usd is not None:
            spent = o.client.meter.cost_usd - self.cost_base
            cost = lim.max_cost_usd - spent
            if cost <= 0:
                return f"cost cap: the run spent ${spent:.4f} of its ${lim.max_cost_usd:.4f} limit (max_cost_usd)"
        return Limits(max_steps=steps, max_seconds=seconds, max_cost_usd=cost)

    def _end(self, resolved: bool, reason: str) -> Outcome:
        if not resolved:
            self.o._emit("error", f"stopped: {reason}")
        summary = "; ".join(self.summaries) if resolved else reason
        return Outcome(resolved, summary or "nothing to do", reason, self.steps_used)

    def _check_cancel(self) -> None:
        if self.o.cancelled():
            raise ModelCancelled("the run was cancelled")
