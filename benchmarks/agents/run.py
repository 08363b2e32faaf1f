"""The agents' task suite run through the real pipeline: for each task, its starting state
(its project with its setup.patch, suite.materialise) written to a temporary folder, a
Sandbox over it, the codebase map (RepoMap), the ModelClient (the `openai` package) and the
Orchestrator running the task's agent; then the run's change set applied to a fresh starting
state and judged by the task's fail_to_pass and pass_to_pass tests, run in a sandbox too
(suite.evaluate). Reported per task and overall: resolved rate, steps, tokens, cost and
time.

The model: --base-url/--model/--api-key, or CODEFORGE_AGENTS_BASE_URL, CODEFORGE_AGENTS_MODEL,
CODEFORGE_AGENTS_API_KEY (CODEFORGE_AGENTS_TOOLS=0 or --no-tools: the text edit format;
--price-in/--price-out or CODEFORGE_AGENTS_PRICE_IN/_OUT: USD per million tokens). With none
configured it REPLAYS the recorded runs (benchmarks/agents/recorded/<task-id>.json) through
ReplayServer: scripted turns written from the reference fixes (see scripted.py), not
recordings of a paid model. They prove the pipeline end to end, not a model's skill.

    .venv/bin/python -m benchmarks.agents.run                         # replays, all tasks
    .venv/bin/python -m benchmarks.agents.run --task ledger-voucher-cap -v
    .venv/bin/python -m benchmarks.agents.run --base-url http://127.0.0.1:8000/v1 --model m --json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.agents.scripted import RECORDED
from benchmarks.agents.suite import TASKS, SuiteTask, TestRunner, evaluate, load_tasks, materialise
from codeforge.platform.agents.context import RepoMap
from codeforge.platform.agents.endpoint import Endpoint, Price
from codeforge.platform.agents.meter import Meter
from codeforge.platform.agents.model import ModelClient
from codeforge.platform.agents.orchestrator import Orchestrator
from codeforge.platform.agents.replay import ReplayServer, load_turns
from codeforge.platform.agents.sandbox import Sandbox
from codeforge.platform.agents.task import Event, Limits, Task

__all__ = ["TaskResult", "endpoint_from", "main", "run_task", "sandboxed_runner", "summarize"]

ENV = "CODEFORGE_AGENTS_"


@dataclass
class TaskResult:
    id: str
    agent: str
    resolved: bool  # judged by the task's tests
    claimed: bool  # the agent's own outcome (its check passed at finish)
    steps: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    seconds: float
    reason: str = ""  # why not resolved
    tools: dict[str, int] = field(default_factory=dict)  # tool calls by name
    files: list[str] = field(default_factory=list)  # the change set's paths


def endpoint_from(args: argparse.Namespace) -> Endpoint | None:
    """The configured endpoint (flags over environment), or None: replay."""
    base_url = args.base_url or os.environ.get(ENV + "BASE_URL", "")
    model = args.model or os.environ.get(ENV + "MODEL", "")
    if not base_url:
        if model:
            raise SystemExit("a model was named without an endpoint: give --base-url (or CODEFORGE_AGENTS_BASE_URL)")
        return None
    if not model:
        raise SystemExit("an endpoint was given without a model: give --model (or CODEFORGE_AGENTS_MODEL)")
    tools = not args.no_tools and os.environ.get(ENV + "TOOLS", "1").lower() not in ("0", "false", "no", "off")
    return Endpoint(
        base_url=base_url,
        api_key=args.api_key or os.environ.get(ENV + "API_KEY", "") or "none",
        model=model,
        tools=tools,
        timeout_s=args.timeout,
        price=_price(args),
    )


def _price(args: argparse.Namespace) -> Price:
    def value(flag: float | None, name: str) -> float:
        return flag if flag is not None else float(os.environ.get(ENV + name, "0") or 0)

    return Price(value(args.price_in, "PRICE_IN"), value(args.price_out, "PRICE_OUT"))


def sandboxed_runner(scratch: Path) -> TestRunner:
    """Tests of an agent's result run in a sandbox of their own: the code is the model's."""
    numbers = itertools.count()

    def run(folder: Path, command: str) -> tuple[int, str]:
        with Sandbox.create(folder, scratch / f"eval-{next(numbers)}") as box:
            result = box.run(command, timeout=600)
        return result.exit_code, result.output

    return run


def run_task(
    task: SuiteTask,
    endpoint: Endpoint | None,
    *,
    limits: Limits,
    recorded: Path = RECORDED,
    on_event: Callable[[Event], None] = lambda e: None,
    make_client: Callable[[Endpoint, Meter], ModelClient] = ModelClient,
) -> TaskResult:
    """One task through the pipeline, judged. Replays `recorded/<id>.json` when `endpoint` is
    None. `make_client`: the ModelClient (the real-model benchmark measures each call)."""
    started = time.perf_counter()
    server: ReplayServer | None = None
    tools: dict[str, int] = {}

    def seen(event: Event) -> None:
        if event.kind == "tool":
            name = str(event.data.get("name", "?"))
            tools[name] = tools.get(name, 0) + 1
        on_event(event)

    with tempfile.TemporaryDirectory(prefix=f"agents-{task.id}-") as tmp:
        work = Path(tmp)
        if endpoint is None:
            server = ReplayServer(load_turns(recorded / f"{task.id}.json"))
            # No retries: a replay that runs out of turns has nothing more to say.
            endpoint = Endpoint(server.start(), "replay", "replay-model", max_retries=0, timeout_s=30.0)
        meter = Meter(endpoint)
        client = make_client(endpoint, meter)
        sandbox: Sandbox | None = None
        try:
            workspace = materialise(task, work / "workspace")
            sandbox = Sandbox.create(workspace, work / "scratch")
            repo_map = RepoMap.build(Path(sandbox.root))
            orchestrator = Orchestrator(client, sandbox, repo_map, limits=limits, on_event=seen)
            outcome = orchestrator.run(
                Task(
                    agent=task.agent,
                    description=task.problem,
                    path=task.path,
                    line=task.line,
                    end_line=task.end_line,
                    test=task.test,
                    test_command=task.test_command,
                )
            )
            changes = sandbox.changes()
            judged = evaluate(task, changes, work / "eval", runner=sandboxed_runner(work / "evalbox"))
            reason = ""
            if not judged.resolved:
                reason = (
                    judged.note
                    or outcome.reason
                    or "; ".join(
                        [f"{t}: {o}" for t, o in judged.fail_to_pass.items() if o != "PASSED"]
                        + [f"{t} broke" for t in judged.pass_to_pass_broken]
                    )
                )
                if judged.mutant_caught is False:
                    reason = "the written tests pass on the mutant too"
            return TaskResult(
                task.id,
                task.agent,
                judged.resolved,
                outcome.resolved,
                outcome.steps,
                meter.prompt_tokens,
                meter.completion_tokens,
                meter.cost_usd,
                time.perf_counter() - started,
                reason,
                tools,
                [c.path for c in changes],
            )
        except Exception as exc:  # one task's failure (no sandbox, a model error) must not end the suite
            return TaskResult(
                task.id,
                task.agent,
                False,
                False,
                0,
                meter.prompt_tokens,
                meter.completion_tokens,
                meter.cost_usd,
                time.perf_counter() - started,
                f"{type(exc).__name__}: {exc}",
                tools,
            )
        finally:
            client.close()
            if sandbox is not None:
                sandbox.close()
            if server is not None:
                server.stop()


def summarize(results: list[TaskResult]) -> dict[str, Any]:
    def block(rows: list[TaskResult]) -> dict[str, Any]:
        n = len(rows)
        return {
            "tasks": n,
            "resolved": sum(r.resolved for r in rows),
            "resolved_rate": round(sum(r.resolved for r in rows) / n, 3) if n else 0.0,
            "steps": sum(r.steps for r in rows),
            "prompt_tokens": sum(r.prompt_tokens for r in rows),
            "completion_tokens": sum(r.completion_tokens for r in rows),
            "cost_usd": round(sum(r.cost_usd for r in rows), 6),
            "seconds": round(sum(r.seconds for r in rows), 2),
        }

    agents = sorted({r.agent for r in results})
    return {"overall": block(results), "by_agent": {a: block([r for r in results if r.agent == a]) for a in agents}}


def _print_table(results: list[TaskResult], summary: dict[str, Any], mode: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"agents' task suite ({mode})")
    for column in ("task", "agent", "resolved", "steps", "prompt tok", "completion tok", "cost $", "s", "why not"):
        table.add_column(
            column, justify="right" if column in ("steps", "prompt tok", "completion tok", "cost $", "s") else "left"
        )
    for r in results:
        table.add_row(
            r.id,
            r.agent,
            "yes" if r.resolved else ("no (agent claimed)" if r.claimed else "no"),
            str(r.steps),
            str(r.prompt_tokens),
            str(r.completion_tokens),
            f"{r.cost_usd:.4f}",
            f"{r.seconds:.1f}",
            r.reason[:80],
        )
    for name, block in [("overall", summary["overall"]), *summary["by_agent"].items()]:
        table.add_row(
            f"[bold]{name}[/bold]",
            "",
            f"{block['resolved']}/{block['tasks']} ({block['resolved_rate']:.0%})",
            str(block["steps"]),
            str(block["prompt_tokens"]),
            str(block["completion_tokens"]),
            f"{block['cost_usd']:.4f}",
            f"{block['seconds']:.1f}",
            "",
            end_section=name == "overall",
        )
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.agents.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", action="append", default=[], help="a task id (repeatable); all when none")
    parser.add_argument("--agent", choices=["bug_fixer", "test_writer", "refactor", "feature_builder"])
    parser.add_argument("--tasks", type=Path, default=TASKS, help="the suite's folder")
    parser.add_argument("--recorded", type=Path, default=RECORDED, help="the recorded runs replayed without a model")
    parser.add_argument("--base-url")
    parser.add_argument("--model")
    parser.add_argument("--api-key")
    parser.add_argument("--no-tools", action="store_true", help="the text edit format instead of tool calls")
    parser.add_argument("--price-in", type=float, help="USD per million prompt tokens")
    parser.add_argument("--price-out", type=float, help="USD per million completion tokens")
    parser.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--max-cost-usd", type=float)
    parser.add_argument("--json", action="store_true", help="the results as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each run's events")
    args = parser.parse_args(argv)

    endpoint = endpoint_from(args)
    tasks = [t for t in load_tasks(args.tasks, args.task) if args.agent in (None, t.agent)]
    limits = Limits(max_steps=args.max_steps, max_seconds=args.max_seconds, max_cost_usd=args.max_cost_usd)
    mode = "replaying scripted runs" if endpoint is None else f"{endpoint.model} at {endpoint.base_url}"

    def show(event: Event) -> None:
        if args.verbose and event.kind != "text":
            print(f"  [{event.agent}] {event.kind}: {event.message}", file=sys.stderr)

    results = []
    for task in tasks:
        if args.verbose:
            print(f"{task.id} ({task.agent})", file=sys.stderr)
        results.append(run_task(task, endpoint, limits=limits, recorded=args.recorded, on_event=show))
    summary = summarize(results)
    if args.json:
        print(json.dumps({"mode": mode, "results": [asdict(r) for r in results], **summary}, indent=2))
    else:
        _print_table(results, summary, mode)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
