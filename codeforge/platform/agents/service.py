"""The agents' operations: settings, runs (the job body is runs.py), and the review of a run's
change set: accept (apply the chosen hunks to the workspace, all files checked before any is
written), reject (record only) and undo (reverse the accepted hunks)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select

from codeforge import catalog
from codeforge.catalog.errors import BadInput, Conflict, ExternalFailure, FieldProblem, NotFound
from codeforge.changes import FileChange, HunkConflict, apply_change
from codeforge.platform.agents import runs
from codeforge.platform.agents import settings as agent_settings
from codeforge.platform.agents.models import AgentRun, AgentRunFile
from codeforge.platform.auth.models import Project
from codeforge.platform.context import Context
from codeforge.platform.registry import implements

__all__ = ["find_run", "show_run"]

_SHOW_HINT = "see the run's hunk ids with `codeforge agents show --run RUN`"


# ---- settings ---------------------------------------------------------------------------


@implements(catalog.agents.CONFIGURE)
def configure(ctx: Context, data: catalog.agents.ConfigureInput) -> catalog.agents.Settings:
    project = ctx.require_project()
    agent_settings.configure(ctx.session, ctx.cipher, project, data, ctx.actor.username)
    return agent_settings.settings_out(ctx.session, project)


@implements(catalog.agents.SETTINGS)
def show_settings(ctx: Context, data: catalog.agents.SettingsInput) -> catalog.agents.Settings:
    return agent_settings.settings_out(ctx.session, ctx.require_project())


# ---- runs -------------------------------------------------------------------------------


@implements(catalog.agents.START)
def start(ctx: Context, data: catalog.agents.StartInput) -> catalog.agents.Run:
    return runs.start(ctx, data)


def find_run(ctx: Context, run_id: str, *, lock: bool = False) -> tuple[AgentRun, Project]:
    """The run, if it belongs to a project of the caller's organization (else as unknown).
    `lock`: its row locked until the caller commits (PostgreSQL), so two reviews of one run
    take turns instead of both applying the same hunks."""
    row = ctx.session.get(AgentRun, run_id, with_for_update=lock)
    if row is not None:
        project = ctx.session.get(Project, row.project_id)
        if project is not None and project.org_id == ctx.actor.org_id:
            return row, project
    raise NotFound(
        f"there is no agent run {run_id!r} in your organization",
        fix="list the project's runs with `codeforge agents list`",
    )


def _files(ctx: Context, run_id: str) -> list[AgentRunFile]:
    return list(
        ctx.session.scalars(select(AgentRunFile).where(AgentRunFile.run_id == run_id).order_by(AgentRunFile.position))
    )


def show_run(ctx: Context, run_id: str) -> catalog.agents.Run:
    row, project = find_run(ctx, run_id)
    return runs.run_out(row, project.slug, _files(ctx, row.id))


@implements(catalog.agents.LIST)
def list_runs(ctx: Context, data: catalog.agents.RunListInput) -> catalog.agents.RunList:
    project = ctx.require_project()
    query = select(AgentRun).where(AgentRun.project_id == project.id)
    if data.state is not None:
        query = query.where(AgentRun.state == data.state)
    rows = list(ctx.session.scalars(query.order_by(AgentRun.created_at.desc(), AgentRun.id).limit(data.limit)))
    counts = dict(
        ctx.session.execute(
            select(AgentRunFile.run_id, func.count())
            .where(AgentRunFile.run_id.in_([r.id for r in rows]))
            .group_by(AgentRunFile.run_id)
        ).all()
    )
    return catalog.agents.RunList(items=[runs.run_summary(r, project.slug, counts.get(r.id, 0)) for r in rows])


@implements(catalog.agents.SHOW)
def show(ctx: Context, data: catalog.agents.RunInput) -> catalog.agents.Run:
    return show_run(ctx, data.run)


@implements(catalog.agents.CANCEL)
def cancel(ctx: Context, data: catalog.agents.RunInput) -> catalog.agents.Run:
    """Asks the run's job to stop; the run says `cancelled` once it has (within a step)."""
    row, project = find_run(ctx, data.run)
    if row.state != "running":
        raise Conflict(
            f"agent run {row.id!r} is {row.state} already",
            fix="only a running run can be cancelled; undo an accepted one with `codeforge agents undo`",
        )
    if row.job_id and ctx.runner is not None:
        ctx.runner.cancel(row.job_id)  # the job's own replica stops it at its next check
    return runs.run_out(row, project.slug, [])


# ---- review -----------------------------------------------------------------------------


def _chosen(files: Sequence[AgentRunFile], names: list[str], hunk_ids: list[str]) -> set[str]:
    """The hunk ids that `files` and `hunks` name (every hunk when neither names any)."""
    all_ids = {f"{f.path}#{n}": f for f in files for n in range(1, len(f.hunks) + 1)}
    by_path = {f.path: f for f in files}
    problems = [
        FieldProblem(f"files.{i}", f"{name!r} is not in the change set", _SHOW_HINT)
        for i, name in enumerate(names)
        if name not in by_path
    ] + [
        FieldProblem(f"hunks.{i}", f"{hunk!r} is not a hunk of this run", _SHOW_HINT)
        for i, hunk in enumerate(hunk_ids)
        if hunk not in all_ids
    ]
    if problems:
        raise BadInput.of_fields(problems[:50])
    if not names and not hunk_ids:
        return set(all_ids)
    return {i for i, f in all_ids.items() if f.path in names} | set(hunk_ids)


def _reviewable(row: AgentRun) -> None:
    if row.state == "running":
        raise Conflict(
            f"agent run {row.id!r} is still running", fix="wait for it to finish (or cancel it), then review it"
        )


def _set_states(files: Sequence[AgentRunFile], ids: set[str], state: str) -> None:
    for f in files:
        hunks = [dict(h) for h in f.hunks]
        for n, h in enumerate(hunks, 1):
            if f"{f.path}#{n}" in ids:
                h["state"] = state
        f.hunks = hunks  # a new list: the JSON column sees the change


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return None


def _write(path: Path, text: str | None) -> None:
    """Replace the file whole (a temporary file renamed over it), or remove it for None."""
    if text is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".codeforge")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8", "surrogateescape"))
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _apply(row: AgentRun, ctx: Context, changes: list[FileChange], *, reverse: bool) -> list[str]:
    """All of `changes` to the run's workspace, or none: every file is computed before any is
    written, and a failed write puts back those already written."""
    workspace = runs.workspace_of(ctx.settings, row.workspace)
    planned: list[tuple[Path, str | None, str | None, str]] = []
    for change in changes:
        target = workspace / change.path
        if not target.resolve().is_relative_to(workspace):
            raise Conflict(f"{change.path!r} is outside the workspace", fix="reject this hunk")
        before = _read(target)
        try:
            if before is None and (change.status == ("added" if reverse else "deleted") or change.status == "modified"):
                raise HunkConflict(change.path, 0, "the file is not in the workspace")
            if before is not None and change.status == ("deleted" if reverse else "added"):
                raise HunkConflict(change.path, 0, "the file exists already")
            after = apply_change(before, change, reverse=reverse)
        except HunkConflict as exc:
            verb = "undone" if reverse else "applied"
            raise Conflict(
                f"{change.path}: the change cannot be {verb}, the file changed since the run ({exc.reason}); "
                "nothing was written",
                fix=f"edit {change.path} back, or review the run again with `codeforge agents show --run {row.id}` "
                "and skip that hunk (accept the others by id, or reject it)",
            ) from None
        planned.append((target, before, after, change.path))
    written: list[tuple[Path, str | None]] = []
    try:
        for target, before, after, _ in planned:
            _write(target, after)
            written.append((target, before))
    except OSError as exc:
        for target, before in reversed(written):
            with contextlib.suppress(OSError):  # put back what can be; the error says what failed
                _write(target, before)
        raise ExternalFailure(
            f"could not write {exc.filename or 'a workspace file'}: {exc.strerror}; nothing was kept",
            fix="check the workspace's permissions and free space, then accept again",
        ) from None
    return [p for *_, p in planned]


def _review(ctx: Context, run_id: str) -> tuple[AgentRun, Project, list[AgentRunFile]]:
    row, project = find_run(ctx, run_id, lock=True)
    _reviewable(row)
    return row, project, _files(ctx, row.id)


def _states(files: Sequence[AgentRunFile]) -> dict[str, str]:
    return {f"{f.path}#{n}": h.get("state", "pending") for f in files for n, h in enumerate(f.hunks, 1)}


@implements(catalog.agents.ACCEPT)
def accept(ctx: Context, data: catalog.agents.AcceptInput) -> catalog.agents.RunReview:
    row, project, files = _review(ctx, data.run)
    states = _states(files)
    ids = {i for i in _chosen(files, data.files, data.hunks) if states[i] != "accepted"}
    written = _apply(row, ctx, runs.file_changes(files, only=ids), reverse=False) if data.write and ids else []
    _set_states(files, ids, "accepted")
    return catalog.agents.RunReview(run=runs.run_out(row, project.slug, files), hunks=sorted(ids), written=written)


@implements(catalog.agents.REJECT)
def reject(ctx: Context, data: catalog.agents.RejectInput) -> catalog.agents.RunReview:
    row, project, files = _review(ctx, data.run)
    states = _states(files)
    chosen = _chosen(files, data.files, data.hunks)
    applied = sorted(i for i in chosen if states[i] == "accepted")
    if applied and (data.files or data.hunks):
        raise Conflict(
            f"{', '.join(applied[:5])} {'is' if len(applied) == 1 else 'are'} accepted already",
            fix=f"undo the run first (`codeforge agents undo --run {row.id}`), then reject",
        )
    ids = {i for i in chosen if states[i] in ("pending", "undone")}
    _set_states(files, ids, "rejected")
    return catalog.agents.RunReview(run=runs.run_out(row, project.slug, files), hunks=sorted(ids), written=[])


@implements(catalog.agents.UNDO)
def undo(ctx: Context, data: catalog.agents.UndoInput) -> catalog.agents.RunReview:
    row, project, files = _review(ctx, data.run)
    ids = {i for i, state in _states(files).items() if state == "accepted"}
    written = _apply(row, ctx, runs.file_changes(files, only=ids), reverse=True) if data.write and ids else []
    _set_states(files, ids, "undone")
    return catalog.agents.RunReview(run=runs.run_out(row, project.slug, files), hunks=sorted(ids), written=written)
