"""The Orchestrator end to end (ReplayServer through the real openai client, a real sandbox):
the model's plan, the fixed plan when the answer is junk, Bug Fixer rounds while the tests fail,
limits shared by all steps, per-step progress, cancel; any other agent runs alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from codeforge.catalog.errors import BadInput
from codeforge.platform.agents.endpoint import Price
from codeforge.platform.agents.model import ModelClient
from codeforge.platform.agents.orchestrator import MAX_PLAN_STEPS, Orchestrator, Step, fallback_plan, parse_plan
from codeforge.platform.agents.replay import ReplayServer
from codeforge.platform.agents.task import Limits, Task
from tests.agents.fixtures.projects import FIX_CALC, SCRIPTS, Project, call, project, run_agent

__all__ = ["project"]

Make = Callable[[str], Project]
Replay = Callable[..., ReplayServer]
Client = Callable[..., ModelClient]

FEATURE = Task("orchestrator", "Build slugify as the comment in text.py says, with tests", path="text.py", line=8)
PLAN = [
    {"agent": "feature_builder", "task": "Add slugify(title) with tests"},
    {"agent": "test_writer", "task": "Test shout and slugify"},
]
MORE_TESTS = """from text import shout, slugify


def test_shout() -> None:
    assert shout("a") == "A!"


def test_slugify_drops_punctuation() -> None:
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("") == ""
"""
WRITE_MORE_TESTS = [
    call("write_file", path="tests/test_more.py", content=MORE_TESTS),
    call("finish", summary="tests for shout and slugify"),
]


def plan_turn(plan: Any) -> dict[str, Any]:
    return {"text": f"Here is the plan:\n```json\n{json.dumps(plan)}\n```\n"}


def test_the_models_plan_is_run_step_by_step(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("feature_builder")
    server = replay([plan_turn(PLAN), *SCRIPTS["feature_builder"][1], *WRITE_MORE_TESTS])

    ran = run_agent(p, model_client(server), server, FEATURE, limits=Limits(max_steps=20), orchestrate=True)

    assert ran.outcome is not None and ran.outcome.resolved, ran.outcome
    assert ran.outcome.steps == 1 + 4 + 2 and len(server.requests) == 7
    assert ran.outcome.summary == "feature_builder: slugify with tests; test_writer: tests for shout and slugify"
    steps = [e.message for e in ran.events if e.kind == "step" and e.agent == "orchestrator"]
    assert steps == [
        "planning the steps",
        "step 1/2 feature_builder: Add slugify(title) with tests",
        "step 2/2 test_writer: Test shout and slugify",
    ]
    assert "plan: feature_builder → test_writer" in ran.messages("result")
    planned = "".join(e.message for e in ran.events if e.kind == "text" and e.agent == "orchestrator")
    assert planned.startswith("Here is the plan:")
    # The planner was asked without tools; each agent got its own step as its task.
    assert "tools" not in server.requests[0]
    assert server.requests[5]["messages"][1]["content"].startswith("Test shout and slugify")
    assert sorted(p.changed()) == ["test_slug.py", "tests/test_more.py", "text.py"]
    assert p.unchanged()


@pytest.mark.parametrize(
    "answer",
    [
        "Sure! First I will build it, then test it.",
        '[{"agent": "magician", "task": "do it"}]',
        '[{"agent": "feature_builder"}]',
        "[{'agent': 'feature_builder', 'task': 'x'}]",
    ],
)
def test_a_junk_plan_falls_back_to_the_fixed_plan(
    answer: str, project: Make, replay: Replay, model_client: Client
) -> None:
    p = project("feature_builder")
    server = replay([{"text": answer}, *SCRIPTS["feature_builder"][1], *WRITE_MORE_TESTS])

    ran = run_agent(p, model_client(server), server, FEATURE, limits=Limits(max_steps=20), orchestrate=True)

    assert ran.outcome is not None and ran.outcome.resolved, ran.outcome
    assert any("the fixed plan instead" in m for m in ran.messages("error"))
    assert "plan: feature_builder → test_writer" in ran.messages("result")
    assert p.unchanged()


def test_the_bug_fixer_runs_while_the_tests_fail(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("bug_fixer")
    task = Task("orchestrator", "Tests for mul, and the whole suite green", path="calc.py", line=9)
    mul_tests = "from calc import mul\n\n\ndef test_mul_more() -> None:\n    assert mul(3, 4) == 12\n"
    server = replay(
        [
            plan_turn([{"agent": "test_writer", "task": "Write tests for mul"}]),
            call("write_file", path="tests/test_mul.py", content=mul_tests),
            call("finish", summary="tests for mul"),
            FIX_CALC,
            call("finish", summary="add adds"),
        ]
    )

    ran = run_agent(p, model_client(server), server, task, orchestrate=True)

    assert ran.outcome is not None and ran.outcome.resolved, ran.outcome
    steps = [e.message for e in ran.events if e.kind == "step" and e.agent == "orchestrator"]
    assert steps[-1].startswith("step fix 1/2 bug_fixer: The tests fail after the previous steps")
    assert ran.outcome.summary.endswith("bug_fixer: add adds")
    assert sorted(p.changed()) == ["calc.py", "tests/test_mul.py"]


def test_the_run_fails_when_the_fix_rounds_do_not_make_the_tests_pass(
    project: Make, replay: Replay, model_client: Client
) -> None:
    p = project("bug_fixer")
    task = Task("orchestrator", "Tests for mul", path="calc.py", line=9)
    mul_tests = "from calc import mul\n\n\ndef test_mul_more() -> None:\n    assert mul(3, 4) == 12\n"
    server = replay(
        [
            plan_turn([{"agent": "test_writer", "task": "Write tests for mul"}]),
            call("write_file", path="tests/test_mul.py", content=mul_tests),
            call("finish", summary="tests for mul"),
        ]
    )

    ran = run_agent(p, model_client(server), server, task, orchestrate=True, fix_rounds=0)

    assert ran.outcome is not None and not ran.outcome.resolved
    assert ran.outcome.reason.startswith("the tests still fail after 0 Bug Fixer round(s)")


def test_the_step_limit_is_shared_by_all_steps(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("feature_builder")
    server = replay([plan_turn(PLAN), *SCRIPTS["feature_builder"][1], *WRITE_MORE_TESTS])

    ran = run_agent(p, model_client(server), server, FEATURE, limits=Limits(max_steps=5), orchestrate=True)

    assert ran.outcome is not None and not ran.outcome.resolved and ran.outcome.steps == 5
    assert ran.outcome.reason == ("before step 2/2 test_writer: the step limit was reached (5 steps across all steps)")
    assert len(server.requests) == 5


def test_a_step_stopped_by_the_shared_limit_ends_the_run(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("feature_builder")
    server = replay([plan_turn(PLAN), *SCRIPTS["feature_builder"][1]])

    ran = run_agent(p, model_client(server), server, FEATURE, limits=Limits(max_steps=3), orchestrate=True)

    assert ran.outcome is not None and not ran.outcome.resolved
    assert ran.outcome.reason == "step 1/2 feature_builder: the step limit was reached (2 steps)"
    assert ran.outcome.steps == 3 and len(server.requests) == 3


def test_the_cost_limit_counts_the_plan_too(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("feature_builder")
    server = replay([plan_turn(PLAN), *SCRIPTS["feature_builder"][1]])
    client = model_client(server, price=Price(input_per_mtok=10.0, output_per_mtok=10.0))

    ran = run_agent(p, client, server, FEATURE, limits=Limits(max_cost_usd=0.0001), orchestrate=True)

    assert ran.outcome is not None and not ran.outcome.resolved
    assert ran.outcome.reason.startswith("before step 1/2 feature_builder: cost cap: the run spent $")
    assert len(server.requests) == 1 and p.changed() == []


def test_cancel_stops_the_orchestrated_run(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("feature_builder")
    server = replay([plan_turn(PLAN), *SCRIPTS["feature_builder"][1], *WRITE_MORE_TESTS])

    ran = run_agent(p, model_client(server), server, FEATURE, orchestrate=True, cancel_after="write test_slug.py")

    assert ran.outcome is None and ran.error is not None
    assert len(server.requests) == 3
    assert not any(m.startswith("step 2/2") for m in ran.messages("step"))
    assert p.unchanged()


def test_another_agent_runs_alone(project: Make, replay: Replay, model_client: Client) -> None:
    task, turns, _ = SCRIPTS["bug_fixer"]
    p = project("bug_fixer")
    server = replay(turns)

    ran = run_agent(p, model_client(server), server, task, orchestrate=True)

    assert ran.outcome is not None and ran.outcome.resolved and len(server.requests) == len(turns)
    assert all(e.agent == "bug_fixer" for e in ran.events)


def test_an_unknown_agent_is_bad_input(project: Make, replay: Replay, model_client: Client) -> None:
    p = project("bug_fixer")
    server = replay([])
    with pytest.raises(BadInput) as caught:
        Orchestrator(model_client(server), p.sandbox, None, limits=Limits()).run(Task("wizard", "x"))
    assert "no agent 'wizard'" in caught.value.message and "bug_fixer" in caught.value.fix


def test_parse_plan_tolerates_prose_and_refuses_junk() -> None:
    assert parse_plan('ok:\n[{"agent": "refactor", "task": " tidy "}]\nthanks') == [Step("refactor", "tidy")]
    assert parse_plan("no plan") == "no JSON list in the answer"
    assert parse_plan("[]") == "the plan is empty"
    assert "not valid JSON" in str(parse_plan("[{agent: x}]"))
    assert "no known agent" in str(parse_plan('[{"agent": "orchestrator", "task": "x"}]'))
    assert "has no task" in str(parse_plan('[{"agent": "bug_fixer", "task": ""}]'))
    assert "is not an object" in str(parse_plan('["bug_fixer"]'))
    many = json.dumps([{"agent": "bug_fixer", "task": "x"}] * (MAX_PLAN_STEPS + 1))
    assert "more than" in str(parse_plan(many))


def test_the_fixed_plan_tests_python_targets_only() -> None:
    assert [s.agent for s in fallback_plan(Task("orchestrator", "x", path="a.py"))] == [
        "feature_builder",
        "test_writer",
    ]
    assert [s.agent for s in fallback_plan(Task("orchestrator", "x", path="a.ts"))] == ["feature_builder"]
    assert [s.agent for s in fallback_plan(Task("orchestrator", "x"))] == ["feature_builder"]
