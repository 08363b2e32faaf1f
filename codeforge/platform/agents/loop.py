"""The agents' loop: model calls and tools in the sandbox until the agent's `finish` passes its
own check, or a limit ends the run.

Each step is one model call. With an endpoint that calls tools, the role's tool schemas go with
it and each call's result comes back as a tool message; without (endpoint.tools False), the
system prompt teaches the plain-text edit format (editformat.py), whose actions run through the
same tools and whose results come back as one user message. `finish` (or `DONE:`) is accepted
only when the role's check passes in the sandbox; otherwise the check's output goes back to the
model and the loop goes on. Every limit ends the run with an Outcome whose reason says which;
a cancel raises ModelCancelled (the job then stores nothing)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codeforge.platform.agents import editformat
from codeforge.platform.agents.context import Focus
from codeforge.platform.agents.model import (
    BudgetExceeded,
    ModelCancelled,
    ModelClient,
    ModelFailure,
    ModelTurn,
    ToolCall,
)
from codeforge.platform.agents.roles import Role, baseline
from codeforge.platform.agents.sandbox import CommandCancelled
from codeforge.platform.agents.task import Event, EventKind, Limits, Outcome, Task
from codeforge.platform.agents.tokens import count_messages, count_tokens
from codeforge.platform.agents.tools import TOOLS, ToolEnv, schemas

if TYPE_CHECKING:
    from codeforge.platform.agents.context import RepoMap
    from codeforge.platform.agents.sandbox import Sandbox

__all__ = ["ELIDED", "HISTORY_TOKENS", "IDLE_TURNS", "MAP_TOKENS", "AgentLoop", "tool_summary"]

log = logging.getLogger(__name__)

MAP_TOKENS = 4000  # the repo map's share of the system prompt
IDLE_TURNS = 3  # answers in a row without a tool call or an action: reminded, then the run stops
COMMAND_TIMEOUT_S = 120.0
HISTORY_TOKENS = 48_000  # the conversation kept within this: older tool outputs are elided first
KEEP_RECENT = 6  # messages at the end never elided
ELIDED = "[output elided to keep the conversation short; run the tool again if you need it]"
RESULT_CHARS = 16000  # of one tool result kept in the conversation (tools cap their own output too)
SUMMARY_CHARS = 100

_REMIND = (
    "You answered without calling a tool. Work through the tools: read, edit, run the tests; "
    "call `finish` with a summary when the task is done."
)
_REMIND_TEXT = (
    "Your answer held no action. Use SEARCH/REPLACE blocks to edit, ```run blocks to run commands, "
    "and a final `DONE: summary` line when the task is done."
)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit // 2] + "\n…(cut)…\n" + text[-limit // 2 :]


def _one_line(text: str, limit: int = SUMMARY_CHARS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def tool_summary(name: str, args: dict[str, Any]) -> str:
    """A short line saying what a tool call does, for progress and the transcript."""
    path = str(args.get("path", "") or "")
    if name == "read_file":
        span = f":{args.get('start_line', '')}-{args.get('end_line', '')}" if args.get("start_line") else ""
        return f"read {path}{span}"
    if name == "search":
        return f"search {args.get('pattern', '')!r}" + (f" in {path}" if path else "")
    if name == "list_symbols":
        return (
            "list symbols"
            + (f" of {path}" if path else "")
            + (f" matching {args['query']!r}" if args.get("query") else "")
        )
    if name in ("edit", "write_file"):
        return f"{'edit' if name == 'edit' else 'write'} {path}"
    if name == "apply_patch":
        files = [line[4:].strip() for line in str(args.get("patch", "")).splitlines() if line.startswith("+++ ")]
        return "patch " + (", ".join(f.removeprefix("b/") for f in files) or "(no files)")
    if name == "run":
        return f"run `{_one_line(str(args.get('command', '')), 80)}`"
    if name == "run_tests":
        return "run the tests" + (f" {args['tests']}" if args.get("tests") else "")
    if name == "finish":
        return f"finish: {_one_line(str(args.get('summary', '')), 80)}"
    return name


@dataclass
class _State:
    role: Role
    task: Task
    started: float
    deadline: float
    cost_base: float
    messages: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    idle: int = 0
    since: dict[str, str] = field(default_factory=dict)  # the changes before this agent began
    last_check: str = ""  # the last refused finish's check output, for the outcome's reason
    summary: str = ""


class AgentLoop:
    def __init__(
        self,
        client: ModelClient,
        sandbox: Sandbox,
        context: RepoMap | None,
        *,
        limits: Limits,
        on_event: Callable[[Event], None] = lambda e: None,
        cancelled: Callable[[], bool] = lambda: False,
        map_tokens: int = MAP_TOKENS,
        idle_turns: int = IDLE_TURNS,
        command_timeout: float = COMMAND_TIMEOUT_S,
        history_tokens: int = HISTORY_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.sandbox = sandbox
        self.context = context
        self.limits = limits
        self.on_event = on_event
        self.cancelled = cancelled
        self.map_tokens = map_tokens
        self.idle_turns = idle_turns
        self.command_timeout = command_timeout
        self.history_tokens = history_tokens
        self.clock = clock
        self.tools_mode = client.endpoint.tools

    # -- the run
    def run(self, role: Role, task: Task) -> Outcome:
        now = self.clock()
        s = _State(role, task, now, now + self.limits.max_seconds, self.client.meter.cost_usd)
        try:
            return self._run(s)
        except CommandCancelled:
            # A command (a tool's, a check's) was killed: by the cancel, or by the time limit.
            self._check_cancel()
            return self._stopped(s, self._time_limit())

    def _run(self, s: _State) -> Outcome:
        role, task = s.role, s.task
        self._check_cancel()
        s.since = baseline(self.sandbox)
        prep = role.prepare(self.sandbox, task, cancelled=self._stop_flag(s))
        self._check_cancel()
        if prep.stop:
            self._emit(s, "error", prep.stop)
            return Outcome(False, prep.stop, prep.stop, 0)
        if prep.note:
            self._emit(s, "result", _one_line(prep.note, 200), {"output": prep.note})
        system = role.system_prompt(task, self._map_text(task))
        if not self.tools_mode:
            system += "\n\n" + editformat.INSTRUCTIONS
        user = role.task_message(task) + (f"\n\n{prep.note}" if prep.note else "")
        s.messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        env = ToolEnv(self.sandbox, self.context, task.test_command, self.command_timeout, self._stop_flag(s))
        while True:
            self._check_cancel()
            stop = self._limit_reached(s)
            if stop:
                return self._stopped(s, stop)
            s.steps += 1
            self._emit(
                s,
                "step",
                f"step {s.steps}/{self.limits.max_steps}",
                {"step": s.steps, "max_steps": self.limits.max_steps},
            )
            self._compact(s)
            try:
                turn = self.client.complete(
                    s.messages,
                    schemas(list(role.tools)) if self.tools_mode else None,
                    on_text=lambda text: self._emit(s, "text", text),
                    cancelled=self._stop_flag(s),
                )
            except ModelCancelled:
                self._check_cancel()
                return self._stopped(s, self._time_limit())
            except BudgetExceeded as exc:
                return self._stopped(s, f"cost cap: {exc.message}")
            except ModelFailure as exc:
                return self._stopped(s, f"model error: {exc.message}")
            done = self._tool_turn(s, turn, env) if self.tools_mode else self._text_turn(s, turn, env)
            if done:
                return Outcome(True, s.summary, "", s.steps)
            if s.idle >= self.idle_turns:
                return self._stopped(
                    s,
                    f"the model answered {s.idle} times in a row without "
                    f"{'calling a tool' if self.tools_mode else 'an edit, run or DONE action'}",
                )

    # -- one step's answer
    def _tool_turn(self, s: _State, turn: ModelTurn, env: ToolEnv) -> bool:
        calls = turn.tool_calls
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    # Malformed arguments go back as "{}": some endpoints refuse a history with bad JSON.
                    "function": {"name": c.name, "arguments": c.raw if c.arguments is not None else "{}"},
                }
                for c in calls
            ]
        s.messages.append(message)
        if not calls and turn.text:
            # Small local models often answer in the text format though offered tools: carried
            # out all the same (nothing else is done with a talk-only answer).
            try:
                actions = editformat.parse(turn.text)
            except editformat.FormatError:
                actions = []
            if actions:
                s.idle = 0
                self._emit(s, "result", "no tool call; the answer's text-format actions are carried out")
                return self._actions(s, actions, env)
        if not calls:
            s.idle += 1
            if s.idle < self.idle_turns:
                s.messages.append({"role": "user", "content": _REMIND})
            return False
        s.idle = 0
        for call in calls:
            result, done = self._call(s, call, env)
            s.messages.append({"role": "tool", "tool_call_id": call.id, "content": _clip(result, RESULT_CHARS)})
            if done:
                return True
        return False

    def _text_turn(self, s: _State, turn: ModelTurn, env: ToolEnv) -> bool:
        s.messages.append({"role": "assistant", "content": turn.text})
        try:
            actions = editformat.parse(turn.text)
        except editformat.FormatError as exc:
            # Nothing of a malformed reply is carried out; the model hears where it went wrong.
            self._emit(s, "error", f"the reply does not follow the edit format: {_one_line(str(exc), 200)}")
            s.messages.append({"role": "user", "content": f"error: {exc}"})
            return False
        if not actions:
            s.idle += 1
            if s.idle < self.idle_turns:
                s.messages.append({"role": "user", "content": editformat.NOTHING_FOUND})
            return False
        s.idle = 0
        return self._actions(s, actions, env)

    def _actions(self, s: _State, actions: list[editformat.Action], env: ToolEnv) -> bool:
        """Text-format actions run as the tool calls they stand for; their results go back
        to the model as one user message."""
        results: list[str] = []
        for n, action in enumerate(actions, 1):
            name, args = editformat.as_tool_call(action)
            call = ToolCall(f"text_{n}", name, args, json.dumps(args))
            result, done = self._call(s, call, env)
            if done:
                return True
            results.append(f"[{tool_summary(name, args)}]\n{result}")
        s.messages.append({"role": "user", "content": _clip("\n\n".join(results), RESULT_CHARS)})
        return False

    def _call(self, s: _State, call: ToolCall, env: ToolEnv) -> tuple[str, bool]:
        """(the result for the model, whether the run is done)."""
        if call.arguments is None:
            error = f"error: {call.error or 'the arguments are not a JSON object'}"
            self._emit(s, "error", f"{call.name or '(no name)'}: malformed arguments", {"raw": call.raw[:2000]})
            return error, False
        if call.name not in s.role.tools or (call.name != "finish" and call.name not in TOOLS):
            self._emit(s, "error", f"unknown tool {call.name!r}")
            return f"error: there is no tool {call.name!r}; the tools are: {', '.join(s.role.tools)}", False
        self._emit(s, "tool", tool_summary(call.name, call.arguments), {"name": call.name, "arguments": call.arguments})
        if call.name == "finish":
            checked = TOOLS["finish"].run(call.arguments, env)  # the arguments: a non-empty summary
            if checked.startswith("error:"):
                self._emit(s, "error", checked)
                return checked, False
            return self._finish(s, checked)
        try:
            result = TOOLS[call.name].run(call.arguments, env)
        except CommandCancelled:
            raise
        except Exception as exc:  # a tool's bug must not end the run: the model hears it as an error
            result = f"error: {call.name} failed: {type(exc).__name__}: {exc}"
        self._check_cancel()
        self._emit(s, "result", f"{call.name}: {_one_line(result)}", {"name": call.name, "output": result[:4000]})
        return result, False

    def _finish(self, s: _State, summary: str) -> tuple[str, bool]:
        ok, output = s.role.accept(self.sandbox, s.task, cancelled=self._stop_flag(s), since=s.since)
        self._check_cancel()
        if ok:
            s.summary = summary or f"{s.role.title}: done"
            self._emit(s, "result", f"finish accepted: {_one_line(s.summary)}", {"output": output[:4000]})
            return "accepted", True
        s.last_check = output
        self._emit(s, "error", f"finish refused: {_one_line(output, 200)}", {"output": output[:4000]})
        return f"error: finish refused, the check failed: {output}\nFix this, then call finish again.", False

    def _compact(self, s: _State) -> None:
        """Older tool outputs elided, oldest first, while the conversation is over its budget: a
        long run must not outgrow the model's context (the system prompt, the task and the latest
        messages stay whole)."""
        model = self.client.endpoint.model
        total = count_messages(s.messages, model=model)
        for message in s.messages[2 : max(2, len(s.messages) - KEEP_RECENT)]:
            if total <= self.history_tokens:
                return
            content = message.get("content")
            # Short outputs are kept: eliding them saves little and loses the thread.
            if message["role"] in ("tool", "user") and isinstance(content, str) and len(content) > len(ELIDED) * 2:
                total -= count_tokens(content, model=model) - count_tokens(ELIDED, model=model)
                message["content"] = ELIDED

    # -- limits, context, events
    def _limit_reached(self, s: _State) -> str:
        lim = self.limits
        if s.steps >= lim.max_steps:
            return f"the step limit was reached ({lim.max_steps} steps)"
        if self.clock() >= s.deadline:
            return self._time_limit()
        spent = self.client.meter.cost_usd - s.cost_base
        if lim.max_cost_usd is not None and spent >= lim.max_cost_usd:
            return f"cost cap: the run spent ${spent:.4f} of its ${lim.max_cost_usd:.4f} limit (max_cost_usd)"
        return ""

    def _time_limit(self) -> str:
        return f"the time limit was reached ({self.limits.max_seconds:g} s)"

    def _stopped(self, s: _State, reason: str) -> Outcome:
        if s.last_check and "cost cap" not in reason and "model error" not in reason:
            reason += f"; the last check said: {_one_line(s.last_check, 300)}"
        self._emit(s, "error", f"stopped: {reason}")
        return Outcome(False, f"{s.role.title} stopped after {s.steps} step(s): {reason}", reason, s.steps)

    def _stop_flag(self, s: _State) -> Callable[[], bool]:
        return lambda: self.cancelled() or self.clock() >= s.deadline

    def _check_cancel(self) -> None:
        if self.cancelled():
            raise ModelCancelled("the run was cancelled")

    def _map_text(self, task: Task) -> str:
        if self.context is None or self.map_tokens <= 0:
            return ""
        # The failing test's function and what it calls weigh most, then the task's lines.
        focus = Focus.for_task(path=task.path, line=task.line, end_line=task.end_line, test=task.test)
        try:
            return self.context.render(focus, self.map_tokens)
        except Exception:  # the map helps; a run goes on without it rather than fail
            log.warning("the codebase map could not be rendered for %s", task.path or "the task", exc_info=True)
            return ""

    def _emit(self, s: _State, kind: EventKind, message: str, data: dict[str, Any] | None = None) -> None:
        self.on_event(Event(kind, s.role.name, message, data or {}))
