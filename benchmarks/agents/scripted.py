"""The recorded runs the runner replays when no model endpoint is configured
(benchmarks/agents/recorded/<task-id>.json): SCRIPTED model turns, written from each task's
reference fix, not recordings of a paid model. They let the runner drive the whole pipeline
(the real `openai` client streaming from ReplayServer, tool calls, the sandbox, the role's own
check, the evaluation) without a model, and show what a run that solves a task looks like.

Each script reads the focus file and the files the fix touches, makes the change through the
tools a model would use (`edit` with the hunk's lines for bug fixes and features, `apply_patch`
for refactorings, `write_file` for new files and tests), runs the tests, then calls `finish`.

    .venv/bin/python -m benchmarks.agents.scripted            # (re)writes recorded/*.json
    .venv/bin/python -m benchmarks.agents.scripted --check    # exits 1 when one is stale
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.agents.suite import TASKS, SuiteTask, load_tasks, materialise
from codeforge.changes import FileChange, Hunk, parse_unified, unified

__all__ = ["RECORDED", "script", "write_all"]

RECORDED = Path(__file__).resolve().parent / "recorded"

_SUMMARY = {
    "bug_fixer": "Fixed the bug; the failing test passes and the others still do.",
    "test_writer": "Wrote the tests; they pass on the current code.",
    "refactor": "Refactored as asked; the tests still pass.",
    "feature_builder": "Built the feature with tests; the test command passes.",
}


def _sides(hunk: Hunk) -> tuple[str, str]:
    old = [line[1:] for line in hunk.lines if line[:1] in (" ", "-")]
    new = [line[1:] for line in hunk.lines if line[:1] in (" ", "+")]
    return "".join(x + "\n" for x in old), "".join(x + "\n" for x in new)


def _edits(start: Path, change: FileChange) -> list[dict[str, Any]] | None:
    """One `edit` per hunk, or None when a hunk's old text is not unique in the file then."""
    text = (start / change.path).read_text(encoding="utf-8")
    calls = []
    for hunk in change.hunks:
        search, replace = _sides(hunk)
        if text.count(search) != 1:
            return None
        text = text.replace(search, replace)
        calls.append({"name": "edit", "arguments": {"path": change.path, "search": search, "replace": replace}})
    return calls


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def script(task: SuiteTask, start: Path) -> list[dict[str, Any]]:
    """The turns of a run that solves `task` the way its reference does; `start` is the task's
    starting state (suite.materialise)."""
    changes = parse_unified(task.reference.read_text(encoding="utf-8"))
    turns: list[dict[str, Any]] = [
        {
            "text": f"Let me look at {task.path} first.",
            "tool_calls": [_call("read_file", path=task.path)],
        }
    ]
    others = [c.path for c in changes if c.status == "modified" and c.path != task.path]
    if others:
        turns.append(
            {
                "text": "Now the code the change touches.",
                "tool_calls": [_call("read_file", path=p) for p in others],
            }
        )
    calls: list[dict[str, Any]] = []
    patched: list[FileChange] = []
    for change in changes:
        if change.status == "added":
            content = "".join(line[1:] + "\n" for hunk in change.hunks for line in hunk.lines)
            calls.append(_call("write_file", path=change.path, content=content))
            continue
        edits = None if task.agent == "refactor" else _edits(start, change)
        if edits is None:
            patched.append(change)
        else:
            calls += edits
    if patched:
        calls.insert(0, _call("apply_patch", patch=unified(patched)))
    turns.append({"text": "Making the change.", "tool_calls": calls})
    turns.append({"text": "Running the tests.", "tool_calls": [_call("run_tests")]})
    turns.append({"text": "", "tool_calls": [_call("finish", summary=_SUMMARY[task.agent])]})
    return turns


def _render(turns: list[dict[str, Any]]) -> str:
    return json.dumps(turns, indent=1, ensure_ascii=False) + "\n"


def write_all(root: Path = TASKS, out: Path = RECORDED, *, check: bool = False) -> list[str]:
    """Writes every task's script; with check, writes nothing and returns the stale ones."""
    stale = []
    out.mkdir(exist_ok=True)
    for task in load_tasks(root):
        with tempfile.TemporaryDirectory(prefix=f"scripted-{task.id}-") as tmp:
            text = _render(script(task, materialise(task, Path(tmp) / "start")))
        path = out / f"{task.id}.json"
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(task.id)
        else:
            path.write_text(text, encoding="utf-8")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.agents.scripted", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say which recorded runs are stale")
    args = parser.parse_args(argv)
    stale = write_all(check=args.check)
    if stale:
        print("stale recorded runs: " + ", ".join(stale), file=sys.stderr)
        return 1
    if not args.check:
        print(f"wrote {len(list(RECORDED.glob('*.json')))} recorded runs to {RECORDED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
