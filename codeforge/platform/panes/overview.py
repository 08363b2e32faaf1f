"""The project overview pane: its variables, and its jobs at a glance."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from codeforge.platform.context import Context
from codeforge.platform.env.models import EnvVariableRow
from codeforge.platform.jobs.models import JobRow
from codeforge.platform.panes.content import Bars, PaneContent, Table
from codeforge.platform.panes.registry import pane

__all__ = ["overview"]


def _when(row: JobRow) -> str:
    return f"{row.created_at:%Y-%m-%d %H:%M:%S}"


@pane("overview", "Project overview")
def overview(ctx: Context) -> PaneContent:
    project = ctx.require_project()
    variables = ctx.session.scalars(
        select(EnvVariableRow)
        .where(EnvVariableRow.project_id == project.id)
        .order_by(EnvVariableRow.name, EnvVariableRow.environment)
    ).all()
    jobs = ctx.session.scalars(
        select(JobRow)
        .where(JobRow.org_id == ctx.actor.org_id, JobRow.project == project.slug)
        .order_by(JobRow.created_at.desc())
        .limit(20)
    ).all()
    states = Counter(j.state for j in jobs)
    return PaneContent(
        title=f"Project {project.slug}",
        subtitle=f"organization {ctx.actor.org_slug} · viewed by {ctx.actor.username} ({ctx.actor.role.value})",
        sections=[
            Table(
                "Environment variables",
                ["name", "environment", "kind", "updated", "by"],
                [
                    [
                        v.name,
                        v.environment,
                        "secret" if v.secret else "plain",
                        f"{v.updated_at:%Y-%m-%d %H:%M}",
                        v.updated_by,
                    ]
                    for v in variables
                ],
                empty="no variables yet: CodeForge: Set an environment variable",
            ),
            Bars(
                "Recent jobs by outcome",
                [(s, n, str(n)) for s, n in sorted(states.items())],
                empty="no jobs yet",
                colors={"succeeded": "#1a7f37", "failed": "#cf222e", "cancelled": "#9a6700"},
            ),
            Table(
                "Recent jobs",
                ["started", "operation", "state", "progress", "message"],
                [
                    [_when(j), j.operation, j.state, f"{round((j.progress or 0) * 100)}%", (j.error or j.message)[:120]]
                    for j in jobs
                ],
                empty="no jobs yet",
            ),
        ],
    )
