"""The job that runs an agent: a sandboxed copy of the workspace, the codebase map, the
orchestrator, then the outcome, tokens, cost, transcript and change set stored with the run.

The job's database writes are short and in units of their own (SQLite has one writer, and the
job's progress events are written beside it): the run row when it starts, the outcome when it
ends. Cancelled (the job's cancel or `agents.cancel`): the run ends `cancelled` with no change
set, and its scratch folder goes. `sweep` (the manifest's crash cleanup) ends the runs a dead
process left `running` and removes scratch folders no running run owns.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import select, update

from codeforge import catalog
from codeforge.catalog.errors import BadInput, CodeForgeError, FieldProblem
from codeforge.changes import FileChange, Hunk, apply_change, unified
from codeforge.platform.agents import settings as agent_settings
from codeforge.platform.agents.models import AgentRun, AgentRunFile
from codeforge.platform.auth.models import Project
from codeforge.platform.context import Context
from codeforge.platform.databases.paths import confine
from codeforge.platform.db import Database, utcnow
from codeforge.platform.jobs.models import JobRow
from codeforge.platform.jobs.runner import JobCancelled
from codeforge.platform.settings import Settings

if TYPE_CHECKING:
    from codeforge.platform.agents.task import Event

__all__ = [
    "Transcript",
    "file_changes",
    "run_out",
    "run_summary",
    "scratch_of",
    "start",
    "sweep",
    "workspace_of",
]

log = logging.getLogger("codeforge.agents")

Status = Literal["modified", "added", "deleted"]

# A transcript people read, kept with the run: past these it is cut (the end says so).
MAX_EVENTS = 2000
MAX_MESSAGE = 8000
MAX_TEXT = 20_000
# A scratch folder without a run row this old is a leftover (a row is written before its folder).
_ORPHAN_AGE_S = 600.0
_STOPPED = "the platform stopped while this run was going (crash or restart); nothing was written"


def scratch_of(settings: Settings, run_id: str) -> Path:
    return settings.data_dir / "agents" / run_id


def workspace_of(settings: Settings, value: str | None) -> Path:
    """The folder a run works on: confined to the projects' folder like migrations' paths."""
    root = settings.projects_root
    if root is None:
        raise BadInput(
            "agents work on a folder under the projects' folder, and this platform has none",
            errors=[
                FieldProblem(
                    "workspace",
                    "no projects folder is set",
                    "start the platform with CODEFORGE_PROJECTS_ROOT set to the folder holding the projects "
                    "(`codeforge up` sets it to the folder it runs in)",
                )
            ],
        )
    path = confine(value or str(root), [root], field="workspace", base=root)
    if not path.is_dir():
        raise BadInput(
            f"workspace {str(path)!r} is not a folder",
            errors=[FieldProblem("workspace", "not an existing folder", "give the folder of the project's files")],
        )
    return path


# ---- transcript -------------------------------------------------------------------------


@dataclass
class Transcript:
    """Events as they come, streamed text coalesced into one entry per agent turn."""

    entries: list[dict[str, str]] = field(default_factory=list)
    cut: bool = False

    def add(self, kind: str, agent: str, message: str) -> None:
        last = self.entries[-1] if self.entries else None
        if kind == "text" and last is not None and last["kind"] == "text" and last["agent"] == agent:
            if len(last["message"]) < MAX_TEXT:
                last["message"] = (last["message"] + message)[:MAX_TEXT]
            return
        if len(self.entries) >= MAX_EVENTS:
            if not self.cut:
                self.cut = True
                self.entries.append({"kind": "error", "agent": agent, "message": "transcript cut: too many events"})
            return
        limit = MAX_TEXT if kind == "text" else MAX_MESSAGE
        self.entries.append({"kind": kind, "agent": agent, "message": message[:limit]})


# ---- answers ----------------------------------------------------------------------------


def file_changes(files: Sequence[AgentRunFile], *, only: set[str] | None = None) -> list[FileChange]:
    """The stored change set as `codeforge.changes` values (only the hunk ids in `only`)."""
    out = []
    for f in files:
        hunks = [
            Hunk(h["old_start"], h["old_lines"], h["new_start"], h["new_lines"], list(h["lines"]))
            for n, h in enumerate(f.hunks, 1)
            if only is None or f"{f.path}#{n}" in only
        ]
        if hunks:
            out.append(FileChange(f.path, cast(Status, f.status), hunks, f.old_sha256))
    return out


def _files_out(files: Sequence[AgentRunFile]) -> list[catalog.agents.RunFile]:
    return [
        catalog.agents.RunFile(
            path=f.path,
            status=f.status,
            hunks=[
                catalog.agents.RunHunk(
                    id=f"{f.path}#{n}",
                    old_start=h["old_start"],
                    old_lines=h["old_lines"],
                    new_start=h["new_start"],
                    new_lines=h["new_lines"],
                    lines=h["lines"],
                    state=h.get("state", "pending"),
                )
                for n, h in enumerate(f.hunks, 1)
            ],
        )
        for f in files
    ]


def run_out(row: AgentRun, project: str, files: Sequence[AgentRunFile]) -> catalog.agents.Run:
    return catalog.agents.Run(
        id=row.id,
        project=project,
        agent=row.agent,
        title=row.title,
        task=str(row.task.get("description", "")),
        workspace=row.workspace,
        job_id=row.job_id,
        state=row.state,
        resolved=row.resolved,
        summary=row.summary,
        reason=row.reason,
        model=row.model,
        steps=row.steps,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=round(row.cost_usd, 6),
        created_by=row.created_by,
        created_at=row.created_at,
        finished_at=row.finished_at,
        changes=_files_out(files),
        diff=unified(file_changes(files)),
        transcript=[catalog.agents.TranscriptEntry.model_validate(e) for e in row.transcript],
    )


def run_summary(row: AgentRun, project: str, files: int) -> catalog.agents.RunSummary:
    return catalog.agents.RunSummary(
        id=row.id,
        project=project,
        agent=row.agent,
        title=row.title,
        state=row.state,
        resolved=row.resolved,
        steps=row.steps,
        cost_usd=round(row.cost_usd, 6),
        files=files,
        created_by=row.created_by,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


# ---- the job ----------------------------------------------------------------------------


def _title(task: str) -> str:
    first = task.strip().splitlines()[0] if task.strip() else "agent run"
    return first if len(first) <= 200 else first[:199] + "…"


def _stored_files(sandbox: Any, changes: Sequence[FileChange]) -> list[AgentRunFile]:
    """Each changed file with the text its hunks apply to: the copy's text with the hunks
    reversed is the snapshot's, so no second read of the live workspace (it may have moved)."""
    out = []
    for i, change in enumerate(changes):
        base: str | None = None
        if change.status == "modified":
            now = (Path(sandbox.root) / change.path).read_bytes().decode("utf-8", "surrogateescape")
            base = apply_change(now, change, reverse=True)
        elif change.status == "deleted":
            base = apply_change(None, change, reverse=True)
        out.append(
            AgentRunFile(
                position=i,
                path=change.path,
                status=change.status,
                old_sha256=change.old_sha256,
                base_text=base,
                hunks=[
                    {
                        "old_start": h.old_start,
                        "old_lines": h.old_lines,
                        "new_start": h.new_start,
                        "new_lines": h.new_lines,
                        "lines": list(h.lines),
                        "state": "pending",
                    }
                    for h in change.hunks
                ],
            )
        )
    return out


@dataclass
class _Progress:
    """Model calls as job progress ("step 2/30 bug_fixer: run `pytest -q`"), tool calls and
    errors as job log lines too, and every event into the transcript."""

    ctx: Context
    max_steps: int
    transcript: Transcript
    steps: int = 0  # model calls of all the run's agents: the limit counts them together
    label: str = "starting"

    def __call__(self, event: Event) -> None:
        job = self.ctx.job
        self.transcript.add(event.kind, event.agent, event.message)
        if job is None:
            return
        fraction = min(self.steps, self.max_steps) / (self.max_steps + 1)
        if event.kind == "step" and event.agent == "orchestrator":  # its plan: "step 1/3 test_writer: …"
            job.progress(fraction, event.message)
        elif event.kind == "step":
            self.steps += 1
            self.label = f"step {min(self.steps, self.max_steps)}/{self.max_steps} {event.agent}"
            job.progress(min(self.steps, self.max_steps) / (self.max_steps + 1), f"{self.label}: asking the model")
        elif event.kind == "tool":
            job.log(f"{event.agent}: {event.message}"[:MAX_MESSAGE])
            job.progress(fraction, f"{self.label}: {event.message}"[:MAX_MESSAGE])
        elif event.kind == "error":
            job.log(f"{event.agent}: {event.message}"[:MAX_MESSAGE])


class CodebaseMaps:
    """The workspaces' maps, kept current between runs (`context.MapCache`): the capability's
    background service, so their watchers stop with the platform. Without it (a platform
    built by hand) every run maps its sandbox from scratch."""

    current: Any = None  # the running service's MapCache

    def start(self) -> None:
        from codeforge.platform.agents.context import MapCache

        CodebaseMaps.current = MapCache()

    def stop(self) -> None:
        maps, CodebaseMaps.current = CodebaseMaps.current, None
        if maps is not None:
            maps.close()


def _repo_map(workspace: Path, sandbox_root: Path) -> Any:
    from codeforge.platform.agents.context import RepoMap

    maps = CodebaseMaps.current
    return RepoMap.build(sandbox_root) if maps is None else maps.for_sandbox(workspace, sandbox_root)


def _finish(db: Database, run_id: str, values: dict[str, Any], files: Sequence[AgentRunFile] = ()) -> None:
    with db.session() as s:
        s.execute(update(AgentRun).where(AgentRun.id == run_id).values(finished_at=utcnow(), **values))
        for f in files:
            f.run_id = run_id
            s.add(f)


def start(ctx: Context, data: catalog.agents.StartInput) -> catalog.agents.Run:
    """The body of `agents.start`'s job."""
    project = ctx.require_project()
    job = ctx.job
    if job is None:
        raise RuntimeError("agents.start runs as a job")
    db: Database = job.store.db
    eff = agent_settings.effective(ctx.session, project)
    endpoint = agent_settings.endpoint_of(ctx.session, ctx.cipher, project, eff)
    workspace = workspace_of(ctx.settings, data.workspace)
    # Reads done: end the job's own transaction, so it holds no snapshot for the run's minutes.
    ctx.session.commit()
    # The engine, imported once a run is sure to start (a platform without runs never loads it).
    from codeforge.platform.agents.meter import Meter
    from codeforge.platform.agents.model import ModelCancelled, ModelClient
    from codeforge.platform.agents.orchestrator import Orchestrator
    from codeforge.platform.agents.sandbox import CommandCancelled, Sandbox
    from codeforge.platform.agents.task import Limits, Task

    task = Task(
        agent=data.agent,
        description=data.task,
        path=data.path,
        line=data.line,
        end_line=data.end_line,
        test=data.test,
        test_command=data.test_command,
    )
    with db.session() as s:
        row = AgentRun(
            project_id=project.id,
            job_id=job.job_id,
            instance_id=ctx.settings.resolved_instance_id,
            agent=data.agent,
            title=_title(data.task),
            task=data.model_dump(mode="json", exclude={"project"}) | {"description": data.task},
            workspace=str(workspace),
            state="running",
            model=endpoint.model,
            created_by=ctx.actor.username,
        )
        s.add(row)
        s.flush()
        run_id = row.id
    transcript = Transcript()
    progress = _Progress(ctx, data.max_steps, transcript)
    meter = Meter(endpoint)
    scratch = scratch_of(ctx.settings, run_id)
    sandbox: Any = None
    watcher: Any = None
    client = ModelClient(endpoint, meter)

    def spent() -> dict[str, Any]:
        return {
            "steps": progress.steps,
            "prompt_tokens": meter.prompt_tokens,
            "completion_tokens": meter.completion_tokens,
            "cost_usd": meter.cost_usd,
            "transcript": transcript.entries,
        }

    job.progress(0.0, f"copying {workspace.name} into a sandbox")
    try:
        # The platform's data folder may lie inside the workspace (`codeforge up` in a project):
        # its database and key never reach the agents' copy.
        sandbox = Sandbox.create(workspace, scratch, network=bool(eff.values["network"]), hide=[ctx.settings.data_dir])
        job.check_cancelled()
        job.progress(0.0, "mapping the code")
        repo_map = _repo_map(workspace, Path(sandbox.root))
        # What the agents' commands change in the copy (a generated file) reaches the map too.
        watcher = repo_map.watch()
        job.check_cancelled()
        limits = Limits(max_steps=data.max_steps, max_seconds=data.max_seconds, max_cost_usd=data.max_cost_usd)
        orchestrator = Orchestrator(
            client,
            sandbox,
            repo_map,
            limits=limits,
            on_event=progress,
            cancelled=lambda: job.cancelled,
        )
        outcome = orchestrator.run(task)
        job.check_cancelled()  # a cancel that came as it finished still leaves nothing
        files = _stored_files(sandbox, sandbox.changes())
        values = {
            **spent(),
            "steps": max(progress.steps, outcome.steps),
            "state": "done",
            "resolved": outcome.resolved,
            "summary": outcome.summary,
            "reason": outcome.reason,
        }
        _finish(db, run_id, values, files)
    except (JobCancelled, ModelCancelled, CommandCancelled):
        transcript.add("error", data.agent, "cancelled: nothing was kept")
        _finish(db, run_id, {**spent(), "state": "cancelled", "reason": "cancelled; no change set was kept"})
        raise JobCancelled() from None
    except CodeForgeError as exc:
        transcript.add("error", data.agent, exc.message)
        _finish(db, run_id, {**spent(), "state": "failed", "reason": exc.message})
        raise
    except Exception as exc:
        log.exception("agent run failed", extra={"run": run_id})
        reason = f"internal error ({type(exc).__name__}); see the platform log"
        transcript.add("error", data.agent, reason)
        _finish(db, run_id, {**spent(), "state": "failed", "reason": reason})
        raise
    finally:
        client.close()
        if watcher is not None:
            watcher.stop()
        if sandbox is not None:
            sandbox.close()
        shutil.rmtree(scratch, ignore_errors=True)
    with db.session() as s:
        stored = s.get(AgentRun, run_id)
        assert stored is not None
        rows = s.scalars(select(AgentRunFile).where(AgentRunFile.run_id == run_id).order_by(AgentRunFile.position))
        return run_out(stored, project.slug, list(rows))


# ---- crash cleanup ----------------------------------------------------------------------

# The platforms (instance id, database) this process has swept once: the first sweep runs before
# the platform takes any work, so every run its instance left `running` is a dead process's.
_swept_once: set[tuple[str, int]] = set()


def sweep(db: Database, settings: Settings) -> list[str]:
    """Runs a dead process left `running` end `failed`; scratch folders no running run owns go.
    First pass of a process: all of this instance's running runs are dead (it runs nothing
    yet). Later passes (and other instances' runs): those whose job has ended or is gone."""
    instance = settings.resolved_instance_id
    key = (instance, id(db))
    first = key not in _swept_once
    done: list[str] = []
    with db.session() as s:
        running = s.execute(
            select(AgentRun.id, AgentRun.instance_id, JobRow.state)
            .outerjoin(JobRow, JobRow.id == AgentRun.job_id)
            .where(AgentRun.state == "running")
        ).all()
        dead = [
            run_id
            for run_id, owner, job_state in running
            if (first and owner == instance) or job_state is None or job_state in ("succeeded", "failed", "cancelled")
        ]
        if dead:
            s.execute(
                update(AgentRun)
                .where(AgentRun.id.in_(dead), AgentRun.state == "running")
                .values(state="failed", reason=_STOPPED, finished_at=utcnow())
            )
            done.append(f"{len(dead)} agent run(s) marked failed")
        alive = {run_id for run_id, *_ in running if run_id not in dead}
        folder = settings.data_dir / "agents"
        names = [e.name for e in os.scandir(folder) if e.name not in alive] if folder.is_dir() else []
        # A run that began after the query above may be making its folder: a folder goes when its
        # run has ended, or when no run has its name and it is old (or this is the first pass).
        ended = set(s.scalars(select(AgentRun.id).where(AgentRun.id.in_(names), AgentRun.state != "running")))
    _swept_once.add(key)
    removed = 0
    for name in names:
        path = folder / name
        try:
            old = time.time() - path.stat().st_mtime > _ORPHAN_AGE_S
        except OSError:
            continue
        if name in ended or name in dead or first or old:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    if removed:
        done.append(f"{removed} agent scratch folder(s) removed")
    return done


def find_project(ctx: Context, project_id: str) -> Project:
    project = ctx.session.get(Project, project_id)
    if project is None or project.org_id != ctx.actor.org_id:
        raise LookupError(project_id)
    return project
