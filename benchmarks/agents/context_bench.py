"""The context builder (codeforge.platform.agents.context) measured, with a baseline from the
same run for every figure.

1. Speed on a ~50,000-line Python tree: real packages from this environment's site-packages
   (copied to a scratch folder, so edits touch no installed file; their line count is printed).
   - build: `RepoMap.build` of the whole tree (best of --builds runs);
   - update after one file changes: `RepoMap.update([file])` after the file was rewritten (a
     function appended, then the original back), --edits times each, for three files: one of
     median size, the most referenced one (most files link to it: the most edges to redo) and
     the largest (the longest parse). Target: under 50 ms. Baseline: the full rebuild, which is
     what a map without incremental updates would do;
   - rank + render: one `render(focus, 4000)` for a focus in the tree (what an agent run pays
     once at its start).
2. Recall on the agents' task suite (benchmarks/agents/tasks/<id>/task.json: "focus"
   {"path","line","test"}, "reference_files"; the task's starting state, its project with its
   setup.patch, materialised by benchmarks.agents.suite.materialise): the share of the
   files the reference fix touches that appear in the map text rendered for the task's focus
   within the budget (target >= 0.9 at 4,000 tokens). Tasks without reference_files (a test
   writer's fix only adds files) are listed and left out. Baselines, in the same text format
   and budget, with the focus files first too: files in alphabetical order, and files by size
   (largest first), each with all its definitions. The task fixtures are small (a dozen files
   fit in 4,000 tokens whatever the order), so the same is measured again with the ~50,000-line
   tree beside each fixture in the same folder (`+tree`: the fixture added to the tree's map by
   `update`, as an agent's workspace with much unrelated code), and at smaller budgets.

    .venv/bin/python -m benchmarks.agents.context_bench [--lines 50000] [--edits 20]
        [--builds 2] [--budgets 4000,1000,500] [--tasks benchmarks/agents/tasks]
        [--projects benchmarks/agents/projects] [--recall-only] [--json]

--recall-only: the recall on the task fixtures alone (part 2 without the tree), in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.agents import suite
from codeforge.platform.agents.context import Focus, RepoMap
from codeforge.platform.agents.context.render import Entry, count, fit

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "benchmarks" / "agents" / "tasks"
# Pure-Python packages of this environment, taken in this order until the line target is met.
PACKAGES = ("httpx", "click", "anyio", "starlette", "h11", "pathspec", "httpcore", "dateutil")
HEADER = re.compile(r"^(\S.*):$")


def site_packages() -> Path:
    import httpx

    return Path(httpx.__file__).resolve().parent.parent


def python_lines(folder: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in folder.rglob("*.py"))


def copy_tree(dest: Path, target_lines: int) -> int:
    """Copy packages into dest until they hold `target_lines` lines of Python; the count."""
    total = 0
    source = site_packages()
    for name in PACKAGES:
        if total >= target_lines:
            break
        if not (source / name).is_dir():
            continue
        shutil.copytree(source / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
        total += python_lines(dest / name)
    return total


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# -- 1. speed -------------------------------------------------------------------------------------


class Clock:
    """Wall time and this process's CPU time of a block: on a shared machine the wall time
    holds the waits for a core, the CPU time what the work itself cost."""

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def time_updates(repo_map: RepoMap, rel: str, edits: int) -> list[Clock]:
    path = repo_map.root / rel
    original = path.read_text()
    times: list[Clock] = []
    try:
        for i in range(edits):
            path.write_text(
                original + f"\n\ndef bench_added_{i}(value):\n    return value + {i}\n" if i % 2 == 0 else original
            )
            with Clock() as clock:
                repo_map.update([path])
            times.append(clock)
    finally:
        path.write_text(original)
        repo_map.update([path])
    return times


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, -(-len(values) * 95 // 100) - 1)]


def speed(tree: Path, lines: int, builds: int, edits: int) -> dict[str, Any]:
    builds_done: list[Clock] = []
    repo_map: RepoMap | None = None
    for _ in range(builds):
        with Clock() as clock:
            repo_map = RepoMap.build(tree)
        builds_done.append(clock)
    assert repo_map is not None
    rebuild = min(b.wall for b in builds_done)
    rebuild_cpu = min(b.cpu for b in builds_done)
    sizes = sorted(repo_map.files, key=lambda p: ((tree / p).stat().st_size, p))
    picks = {
        "median file": sizes[len(sizes) // 2],
        "most referenced": max(repo_map.files, key=lambda p: (len(repo_map.graph.into.get(p, ())), p)),
        "largest": sizes[-1],
    }
    updates = {}
    for label, rel in picks.items():
        t = time_updates(repo_map, rel, edits)
        wall, cpu = [c.wall for c in t], [c.cpu for c in t]
        updates[label] = {
            "file": rel,
            "lines": len((tree / rel).read_text().splitlines()),
            "links_in": len(repo_map.graph.into.get(rel, ())),
            "median_ms": ms(statistics.median(wall)),
            "p95_ms": ms(p95(wall)),
            "cpu_median_ms": ms(statistics.median(cpu)),
            "cpu_p95_ms": ms(p95(cpu)),
            "vs_rebuild": round(statistics.median(wall) / rebuild, 5),
            "cpu_vs_rebuild": round(statistics.median(cpu) / rebuild_cpu, 5),
        }
    count("warm the tokenizer up")  # loading the encoding once per process is not the map's cost
    focus = Focus.from_diagnostic(picks["median file"], 1)
    with Clock() as render_clock:
        text = repo_map.render(focus, 4000)
    return {
        "lines": lines,
        "files": len(repo_map.files),
        "symbols": len(repo_map.symbols()),
        "build_s": round(rebuild, 3),
        "build_cpu_s": round(rebuild_cpu, 3),
        "build_runs_s": [round(b.wall, 3) for b in builds_done],
        "updates": updates,
        "render_4000_s": round(render_clock.wall, 3),
        "render_4000_cpu_s": round(render_clock.cpu, 3),
        "render_tokens": count(text),
    }


# -- 2. recall ------------------------------------------------------------------------------------


@dataclass
class Task:
    id: str
    agent: str
    repo: Path
    focus: Focus
    reference: list[str]
    added: list[str] = field(default_factory=list)


def load_tasks(folder: Path, scratch: Path, projects: Path = suite.PROJECTS) -> list[Task]:
    """The suite's tasks, each one's starting state materialised under `scratch`/<id>."""
    tasks = []
    for task in suite.load_tasks(folder, projects=projects):
        tasks.append(
            Task(
                id=task.id,
                agent=task.agent,
                repo=suite.materialise(task, scratch / task.id),
                focus=Focus.for_task(path=task.path, line=task.line, end_line=task.end_line, test=task.test),
                reference=task.reference_files,
                added=task.added_files,
            )
        )
    return tasks


def shown(text: str) -> set[str]:
    return {m.group(1) for line in text.splitlines() if (m := HEADER.match(line))}


def baseline_text(repo_map: RepoMap, focus: Focus, order: Callable[[str], Any], budget: int) -> str:
    files = sorted(repo_map.files, key=order)
    entries: list[Entry] = []
    for rel in files:
        entries.append(Entry(rel, None))
        entries.extend(Entry(rel, s) for s in repo_map.symbols(rel) if s.path == rel)
    file_order = {rel: i for i, rel in enumerate([*focus.paths, *files])}
    return fit([Entry(p, None) for p in focus.paths if p in file_order], entries, file_order, budget)


def recall_one(repo_map: RepoMap, task: Task, budgets: Sequence[int], prefix: str = "") -> dict[str, Any]:
    focus = Focus(
        paths=[prefix + p for p in task.focus.paths],
        symbols=task.focus.symbols,
        lines={prefix + p: ls for p, ls in task.focus.lines.items()},
    )
    reference = {prefix + p for p in task.reference}
    root = repo_map.root
    methods: dict[str, Callable[[int], str]] = {
        "map": lambda b: repo_map.render(focus, b),
        "alphabetical": lambda b: baseline_text(repo_map, focus, lambda p: p, b),
        "by size": lambda b: baseline_text(repo_map, focus, lambda p: (-(root / p).stat().st_size, p), b),
    }
    out: dict[str, Any] = {}
    for name, render in methods.items():
        out[name] = {str(b): len(reference & shown(render(b))) / len(reference) for b in budgets}
    ranked = [f.path for f in repo_map.rank(focus)]
    out["map_rank_of_reference"] = [ranked.index(p) + 1 if p in ranked else None for p in sorted(reference)]
    return out


def recall(tasks: list[Task], tree: Path | None, budgets: Sequence[int]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    big: RepoMap | None = RepoMap.build(tree) if tree is not None else None
    for task in tasks:
        if not task.reference:
            results[task.id] = {"skipped": f"no reference_files ({task.agent}: adds {task.added or 'files'})"}
            continue
        if not task.repo.is_dir():
            results[task.id] = {"skipped": f"no fixture at {task.repo}"}
            continue
        if big is None:
            results[task.id] = recall_one(RepoMap.build(task.repo), task, budgets)
            continue
        # The fixture beside the tree, under a folder of its own, added to the tree's map.
        assert tree is not None
        prefix = f"task_{task.id.replace('-', '_')}/"
        shutil.copytree(task.repo, tree / prefix, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        try:
            big.update([tree / prefix])
            results[task.id] = recall_one(big, task, budgets, prefix)
        finally:
            shutil.rmtree(tree / prefix)
            big.update([tree / prefix])
    return results


def mean_recall(results: dict[str, Any], method: str, budget: int) -> float | None:
    values = [r[method][str(budget)] for r in results.values() if method in r]
    return round(sum(values) / len(values), 3) if values else None


# -- report ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--builds", type=int, default=2)
    parser.add_argument("--budgets", default="4000,1000,500")
    parser.add_argument("--tasks", type=Path, default=TASKS)
    parser.add_argument("--projects", type=Path, default=suite.PROJECTS)
    parser.add_argument("--recall-only", action="store_true", help="skip the tree: no speed, no recall beside it")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="context-bench-") as scratch:
        tasks = load_tasks(args.tasks, Path(scratch) / "tasks", args.projects)
        report["tasks"] = [t.id for t in tasks]
        report["recall"] = recall(tasks, None, budgets)
        if not args.recall_only:
            tree = Path(scratch) / "tree"
            tree.mkdir()
            lines = copy_tree(tree, args.lines)
            report["speed"] = speed(tree, lines, args.builds, args.edits)
            report["recall_with_tree"] = recall(tasks, tree, budgets)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"machine: {report['cpus']} cpus, load average {report['load_avg_1m']}")
    if "speed" in report:
        print_speed(report["speed"])
    for key, label in (("recall", "task fixture alone"), ("recall_with_tree", "fixture + the tree")):
        if key in report:
            print_recall(report[key], label, budgets)
    return 0


def print_speed(s: dict[str, Any]) -> None:
    print(
        f"tree: {s['lines']} lines of Python, {s['files']} files, {s['symbols']} symbols ({', '.join(PACKAGES)} as needed)"
    )
    print(f"build (full map): {s['build_s']:.3f} s wall, {s['build_cpu_s']:.3f} s CPU (runs {s['build_runs_s']})")
    for label, u in s["updates"].items():
        print(
            f"update after one file changes, {label} ({u['file']}, {u['lines']} lines, {u['links_in']} files link to it): "
            f"median {u['median_ms']} ms wall (p95 {u['p95_ms']}) = {u['vs_rebuild']}x the rebuild; "
            f"CPU median {u['cpu_median_ms']} ms (p95 {u['cpu_p95_ms']}) = {u['cpu_vs_rebuild']}x"
        )
    print(
        f"rank + render within 4000 tokens: {s['render_4000_s']:.3f} s wall, {s['render_4000_cpu_s']:.3f} s CPU "
        f"({s['render_tokens']} tokens)"
    )


def print_recall(results: dict[str, Any], label: str, budgets: Sequence[int]) -> None:
    print(f"recall of the reference files ({label}):")
    for task_id, r in results.items():
        if "skipped" in r:
            print(f"  {task_id}: skipped, {r['skipped']}")
        else:
            cells = "  ".join(f"{m} {r[m]}" for m in ("map", "alphabetical", "by size"))
            print(f"  {task_id}: {cells}  rank {r['map_rank_of_reference']}")
    for b in budgets:
        m, a, z = (mean_recall(results, k, b) for k in ("map", "alphabetical", "by size"))
        print(f"  mean at {b} tokens: map {m}, alphabetical {a}, by size {z}")


if __name__ == "__main__":
    sys.exit(main())
