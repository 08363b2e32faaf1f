"""AgentLoop end to end, without a paid model: the real `openai` client against a ReplayServer
on loopback playing scripted turns, tools in a real sandbox (bubblewrap) over a copy of a
fixture project. Each agent resolves its task; each fault ends with a clear outcome; the
workspace (the fixture's copy the sandbox was made from) is never written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from codeforge.platform.agents.endpoint import Price
from codeforge.platform.agents.loop import ELIDED
from codeforge.platform.agents.model import ModelClient
from codeforge.platform.agents.replay import ReplayServer
from codeforge.platform.agents.task import Limits, Task
from tests.agents.conftest import Sleeps
from tests.agents.fixtures.projects import FIX_CALC, SCRIPTS, Project, call, project, run_agent

__all__ = ["project"]

Make = Callable[[str], Project]
Replay = Callable[..., ReplayServer]
Client = Callable[..., ModelClient]

BUG = SCRIPTS["bug_fixer"][0]


@pytest.mark.parametrize("agent", sorted(SCRIPTS))
def test_each_agent_resolves_its_fixture_task(agent: str, project: Make, replay: Replay, model_client: Client) -> None:
    task, turns, changed = SCRIPTS[agent]
    p = project(agent)
    server = replay(turns)

    ran = run_agent(p, model_client(server), server, task)

    assert ran.outcome is not None and ran.outcome.resolved, ran.outcome
    assert ran.outcome.reason == "" and ran.outcome.steps == len(turns)
    assert sorted(p.changed()) == sorted(changed)
    assert p.unchanged()
    # What the model was sent: the role's prompt with the repo map, the tools, the task.
    first = server.requests[0]
    system, user = first["messages"][0]["content"], first["messages"][1]["content"]
    assert "finish" in system and task.path in system  # the map names the focused file
    assert task.description in user
    assert {t["function"]["name"] for t in first["tools"]} >= {"read_file", "edit", "run_tests", "finish"}
    # Every tool call was answered by a tool message, in the next request.
    for n in range(1, len(turns)):
        answered = [m for m in server.requests[n]["messages"] if m["role"] == "tool"]
        assert len(answered) >= n
    assert ran.messages("step")[0] == "step 1/12"
    assert any(m.startswith("finish accepted") for m in ran.messages("result"))


def test_progress_events_name_each_tool_and_stream_text(project: Make, replay: Replay, model_client: Client) -> None:
    task, turns, _ = SCRIPTS["feature_builder"]
    p = project("feature_builder")
    server = replay(turns)

    ran = run_agent(p, model_client(server), server, task)

    assert ran.outcome is not None and ran.outcome.resolved
    assert ran.messages("tool")[:4] == ["search 'slugify'", "patch (no files)", "write test_slug.py", "edit text.py"]
    assert "".join(ran.messages("text")) == "Adding slugify and its tests."
    assert all(e.agent == "feature_builder" for e in ran.events)
    # The empty patch was the tool's error, told to the model; the loop went on.
    assert any(r.startswith("error: apply_patch") for r in ran.tool_results(2))


def test_the_text_format_resolves_a_task_without_tools(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("bug_fixer")
    reply = (
        "The sum is wrong.\n\ncalc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n"
        ">>>>>>> REPLACE\n\n```run\nPYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest -q test_calc.py\n```\n"
    )
    server = replay([{"text": "I will look first."}, {"text": reply}, {"text": "DONE: add adds now"}])

    ran = run_agent(p, model_client(server, tools=False), server, BUG)

    assert ran.outcome is not None and ran.outcome.resolved, ran.outcome
    assert ran.outcome.summary == "add adds now" and ran.outcome.steps == 3
    assert all("tools" not in body for body in server.requests)
    assert "SEARCH" in server.requests[0]["messages"][0]["content"]  # the format's instructions
    assert "no SEARCH/REPLACE block" in ran.tool_results(1)[-1]  # the talk-only answer was reminded
    results = ran.tool_results(2)[-1]
    assert "edited calc.py" in results and "2 passed" in results
    assert p.changed() == ["calc.py"] and p.unchanged()


def test_a_malformed_text_reply_is_told_and_nothing_of_it_runs(
    project: Make, replay: Replay, model_client: Client
) -> None:
    p = project("bug_fixer")
    broken = "calc.py\n<<<<<<< SEARCH\n    return a - b\n    return a + b\n>>>>>>> REPLACE\n"
    server = replay([{"text": broken}], repeat_last=True)

    ran = run_agent(p, model_client(server, tools=False), server, BUG, limits=Limits(max_steps=2))

    assert ran.outcome is not None and not ran.outcome.resolved
    assert "step limit" in ran.outcome.reason
    assert "=======" in ran.tool_results(1)[-1]
    assert p.changed() == [] and p.unchanged()


def test_a_429_then_the_answer(project: Make, replay: Replay, model_client: Client, sleeps: Sleeps) -> None:
    task, turns, _ = SCRIPTS["bug_fixer"]
    p = project("bug_fixer")
    server = replay([{"status": 429, "retry_after": 2}, *turns])

    ran = run_agent(p, model_client(server), server, task)

    assert ran.outcome is not None and ran.outcome.resolved
    assert sum(sleeps) >= 2  # Retry-After honoured (recorded, not slept)
    assert len(server.requests) == len(turns) + 1


def test_500s_exhausted_end_with_a_model_error_and_nothing_written(
    project: Make, replay: Replay, model_client: Client
) -> None:
    p = project("bug_fixer")
    server = replay(
        [call("read_file", path="calc.py"), FIX_CALC, {"status": 500, "message": "overloaded"}], repeat_last=True
    )

    ran = run_agent(p, model_client(server, max_retries=2), server, BUG)

    assert ran.outcome is not None and not ran.outcome.resolved
    assert ran.outcome.reason.startswith("model error: ") and "HTTP 500" in ran.outcome.reason
    assert "overloaded" in ran.outcome.reason and ran.outcome.steps == 3
    assert p.changed() == ["calc.py"]  # in the sandbox only: the run's change set, never applied
    assert p.unchanged()
    assert ran.messages("error")[-1].startswith("stopped: model error")


def test_a_cut_off_stream_is_retried_and_the_run_goes_on(project: Make, replay: Replay, model_client: Client) -> None:
    task, turns, _ = SCRIPTS["bug_fixer"]
    p = project("bug_fixer")
    server = replay([turns[0], {**turns[1], "cut": True}, *turns[1:]])

    ran = run_agent(p, model_client(server), server, task)

    assert ran.outcome is not None and ran.outcome.resolved and ran.outcome.steps == len(turns)
    assert p.unchanged()


def test_a_stream_cut_every_time_ends_with_a_model_error(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("bug_fixer")
    server = replay([{"text": "I will fix the bug by", "cut": True}], repeat_last=True)

    ran = run_agent(p, model_client(server, max_retries=1), server, BUG)

    assert ran.outcome is not None and not ran.outcome.resolved
    assert ran.outcome.reason.startswith("model error") and "cut off" in ran.outcome.reason
    assert p.changed() == [] and p.unchanged()


def test_malformed_tool_arguments_are_answered_and_the_loop_goes_on(
    project: Make, replay: Replay, model_client: Client
) -> None:
    task, turns, _ = SCRIPTS["bug_fixer"]
    p = project("bug_fixer")
    bad = {"tool_calls": [{"name": "edit", "arguments": '{"path": "calc.py", "search": '}]}
    server = replay([bad, *turns])

    ran = run_agent(p, model_client(server), server, task)

    assert ran.outcome is not None and ran.outcome.resolved
    told = ran.tool_results(1)[-1]
    assert told.startswith("error: the arguments are not valid JSON") and "one JSON object" in told
    # The history sent back carries "{}" for the call, not the broken text.
    assistant = next(m for m in server.requests[1]["messages"] if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["function"]["arguments"] == "{}"
    assert "edit: malformed arguments" in ran.messages("error")


def test_a_model_that_never_finishes_stops_at_the_step_limit(
    project: Make, replay: Replay, model_client: Client
) -> None:
    p = project("bug_fixer")
    server = replay([call("read_file", path="calc.py")], repeat_last=True)

    ran = run_agent(p, model_client(server), server, BUG, limits=Limits(max_steps=3))

    assert ran.outcome is not None and not ran.outcome.resolved
    assert ran.outcome.reason == "the step limit was reached (3 steps)" and ran.outcome.steps == 3
    assert len(server.requests) == 3 and p.unchanged()
    assert "stopped after 3 step(s)" in ran.outcome.summary


def test_a_model_that_only_talks_is_reminded_then_stopped(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("bug_fixer")
    server = replay([{"text": "I think the bug is in add."}], repeat_last=True)

    ran = run_agent(p, model_client(server), server, BUG)

    assert ran.outcome is not None and not ran.outcome.resolved
    assert "3 times in a row without calling a tool" in ran.outcome.reason and ran.outcome.steps == 3
    assert "call `finish`" in ran.tool_results(1)[-1]


def test_edits_outside_the_workspace_are_refused_and_nothing_is_written(
    tmp_path: Path, project: Make, replay: Replay, model_client: Client
) -> None:
    p = project("bug_fixer")
    outside = p.workspace.parent / "outside.py"
    turns = [
        call("write_file", path="../outside.py", content="print('escaped')\n"),
        call("write_file", path=str(outside), content="print('escaped')\n"),
        call("edit", path="../bug_fixer/calc.py", search="a - b", replace="a + b"),
        call("apply_patch", patch="--- /dev/null\n+++ b/../outside.py\n@@ -0,0 +1 @@\n+x = 1\n"),
        call("run", command="echo escaped > /tmp/outside.txt; ls /tmp"),
    ]
    server = replay(turns)

    ran = run_agent(p, model_client(server), server, BUG, limits=Limits(max_steps=len(turns)))

    assert ran.outcome is not None and not ran.outcome.resolved and "step limit" in ran.outcome.reason
    for n in range(1, 5):
        assert ran.tool_results(n)[-1].startswith("error: "), ran.tool_results(n)[-1]
    assert not outside.exists() and not (tmp_path / "outside.py").exists()
    assert not Path("/tmp/outside.txt").exists()  # the sandbox's /tmp is its own
    assert p.changed() == [] and p.unchanged()


def test_finish_is_refused_while_the_tests_fail(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("bug_fixer")
    server = replay([call("finish", summary="fixed"), FIX_CALC, call("finish", summary="add adds")])

    ran = run_agent(p, model_client(server), server, BUG)

    assert ran.outcome is not None and ran.outcome.resolved and ran.outcome.summary == "add adds"
    refused = ran.tool_results(1)[-1]
    assert refused.startswith("error: finish refused") and "test_calc.py::test_add still fails" in refused
    assert any(m.startswith("finish refused") for m in ran.messages("error"))


def test_a_refused_finish_is_in_the_reason_when_the_run_stops(
    project: Make, replay: Replay, model_client: Client
) -> None:
    p = project("bug_fixer")
    server = replay([call("finish", summary="fixed")], repeat_last=True)

    ran = run_agent(p, model_client(server), server, BUG, limits=Limits(max_steps=2))

    assert ran.outcome is not None and not ran.outcome.resolved
    assert ran.outcome.reason.startswith("the step limit was reached (2 steps); the last check said: ")
    assert "still fails" in ran.outcome.reason


def test_the_endpoint_cost_cap_stops_the_run(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("bug_fixer")
    server = replay([call("read_file", path="calc.py")], repeat_last=True)
    client = model_client(server, price=Price(input_per_mtok=10.0, output_per_mtok=10.0), run_cap_usd=0.05)

    ran = run_agent(p, client, server, BUG, limits=Limits(max_steps=1000))

    assert ran.outcome is not None and not ran.outcome.resolved
    assert ran.outcome.reason.startswith("cost cap: the run's spending cap is reached")
    assert 0 < ran.outcome.steps < 1000 and len(server.requests) == ran.outcome.steps - 1
    assert client.meter.cost_usd <= 0.05
    assert p.unchanged()


def test_the_run_limit_on_cost_stops_the_run(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("bug_fixer")
    server = replay([call("read_file", path="calc.py")], repeat_last=True)
    client = model_client(server, price=Price(input_per_mtok=10.0, output_per_mtok=10.0))

    ran = run_agent(p, client, server, BUG, limits=Limits(max_steps=1000, max_cost_usd=0.02))

    assert ran.outcome is not None and not ran.outcome.resolved
    assert ran.outcome.reason.startswith("cost cap: the run spent $") and "max_cost_usd" in ran.outcome.reason
    assert client.meter.cost_usd >= 0.02 and len(server.requests) == ran.outcome.steps


def test_the_time_limit_stops_the_run(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("bug_fixer")
    server = replay([call("read_file", path="calc.py")], repeat_last=True)

    def clock() -> float:  # 25 s pass with each model call
        return 25.0 * len(server.requests)

    ran = run_agent(p, model_client(server), server, BUG, limits=Limits(max_seconds=60), clock=clock)

    assert ran.outcome is not None and not ran.outcome.resolved
    assert ran.outcome.reason == "the time limit was reached (60 s)" and ran.outcome.steps == 3


def test_cancel_mid_run_raises_and_nothing_is_written(project: Make, replay: Replay, model_client: Client) -> None:
    task, turns, _ = SCRIPTS["bug_fixer"]
    p = project("bug_fixer")
    server = replay(turns)

    ran = run_agent(p, model_client(server), server, task, cancel_after="edit calc.py")

    assert ran.outcome is None and ran.error is not None and "cancelled" in str(ran.error)
    assert len(server.requests) == 2  # the edit was the last call made
    assert p.unchanged()


def test_cancel_during_the_check_raises(project: Make, replay: Replay, model_client: Client) -> None:
    task, turns, _ = SCRIPTS["test_writer"]
    p = project("test_writer")
    server = replay(turns)

    ran = run_agent(p, model_client(server), server, task, cancel_after="finish:")

    assert ran.outcome is None and ran.error is not None
    assert p.read("pricing.py") == (p.workspace / "pricing.py").read_text()  # no mutant left behind
    assert p.unchanged()


def test_a_refactor_of_failing_code_stops_before_any_model_call(
    project: Make, replay: Replay, model_client: Client
) -> None:
    p = project("bug_fixer")
    server = replay([call("finish", summary="x")])

    ran = run_agent(p, model_client(server), server, Task("refactor", "rename add", path="calc.py"))

    assert ran.outcome is not None and not ran.outcome.resolved and ran.outcome.steps == 0
    assert ran.outcome.reason.startswith("the tests fail before the refactoring")
    assert server.requests == []


def test_the_test_writers_finish_is_refused_while_its_tests_pass_on_a_mutant(
    project: Make, replay: Replay, model_client: Client
) -> None:
    task, turns, _ = SCRIPTS["test_writer"]
    p = project("test_writer")
    weak = "from pricing import total\n\n\ndef test_total_runs() -> None:\n    assert total.__name__ == 'total'\n"
    server = replay([call("write_file", path="tests/test_pricing.py", content=weak), turns[3], *turns[1:]])

    ran = run_agent(p, model_client(server), server, task)

    assert ran.outcome is not None and ran.outcome.resolved, ran.outcome
    refused = ran.tool_results(2)[-1]
    assert refused.startswith("error: finish refused") and "also pass on all" in refused
    assert p.read("pricing.py") == (p.workspace / "pricing.py").read_text()
    assert p.changed() == ["tests/test_pricing.py"] and p.unchanged()


def test_older_tool_outputs_are_elided_to_keep_the_conversation_short(
    project: Make, replay: Replay, model_client: Client
) -> None:
    task, turns, _ = SCRIPTS["bug_fixer"]
    p = project("bug_fixer")
    server = replay([call("read_file", path="calc.py")] * 5 + turns[1:])

    ran = run_agent(p, model_client(server), server, task, history_tokens=1)

    assert ran.outcome is not None and ran.outcome.resolved
    last = server.requests[-1]["messages"]
    assert last[0]["role"] == "system" and "Bug Fixer" in last[0]["content"]  # never elided
    assert task.description in last[1]["content"]
    outputs = [m["content"] for m in last if m["role"] == "tool"]
    assert outputs[0] == ELIDED and outputs[-1] != ELIDED
    assert all(m["content"] != ELIDED for m in last[-6:])


def test_text_format_actions_are_carried_out_when_a_tool_model_writes_them(
    project: Make, replay: Replay, model_client: Client
) -> None:
    p = project("bug_fixer")
    reply = "calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n"
    server = replay([{"text": reply}, {"text": "DONE: add adds now"}])

    ran = run_agent(p, model_client(server), server, BUG)

    assert ran.outcome is not None and ran.outcome.resolved and ran.outcome.summary == "add adds now"
    assert "tools" in server.requests[0]
    assert "edited calc.py" in ran.tool_results(1)[-1]
    assert p.changed() == ["calc.py"] and p.unchanged()
