"""Dashboards: list, save (create or replace, every panel's PromQL checked first), remove."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from codeforge.catalog.errors import BadInput, Conflict, FieldProblem, NotFound
from codeforge.catalog.monitoring import dashboards as api
from codeforge.platform.context import Context
from codeforge.platform.db import utcnow
from codeforge.platform.monitoring.dashboards.models import DashboardRow
from codeforge.platform.registry import implements

__all__ = ["find_dashboard", "list_dashboards", "remove_dashboard", "save_dashboard"]


def _out(row: DashboardRow) -> api.Dashboard:
    return api.Dashboard(
        name=row.name,
        title=row.title or row.name,
        panels=[api.Panel.model_validate(p) for p in row.panels],
        created_by=row.created_by,
        created_at=row.created_at,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def find_dashboard(ctx: Context, name: str) -> DashboardRow:
    """The project's dashboard `name`, or NotFound naming the ones it has."""
    project = ctx.require_project()
    row = ctx.session.scalars(
        select(DashboardRow).where(DashboardRow.project_id == project.id, DashboardRow.name == name)
    ).first()
    if row is None:
        names = ctx.session.scalars(
            select(DashboardRow.name).where(DashboardRow.project_id == project.id).order_by(DashboardRow.name)
        ).all()
        have = f"it has: {', '.join(names)}" if names else "it has none yet"
        raise NotFound(
            f"project {project.slug!r} has no dashboard {name!r} ({have})",
            fix="save one with monitoring.save_dashboard, or pick a name from monitoring.dashboards",
        )
    return row


def _check_queries(panels: list[api.Panel]) -> None:
    """Every panel's query parses and can be drawn over time, or one BadInput naming each panel
    that cannot: its position, title, and the line:column PromQL found wrong."""
    from codeforge.platform.monitoring.metrics.promql import PromQLError, parse
    from codeforge.platform.monitoring.metrics.promql.ast import type_name

    problems = []
    for index, panel in enumerate(panels):
        try:
            kind = parse(panel.query).type
        except PromQLError as exc:
            problem = str(exc)
        else:
            if kind in ("scalar", "vector"):
                continue
            problem = (
                f"it gives {type_name(kind)}, which cannot be drawn over time (wrap [5m] in rate or avg_over_time)"
            )
        problems.append(
            FieldProblem(
                f"panels.{index}.query",
                f"panel {index + 1} ({panel.title!r}): {problem}",
                "write a PromQL expression such as rate(http_requests_total[5m])",
            )
        )
    if problems:
        raise BadInput(
            f"{len(problems)} of the dashboard's panels cannot be drawn",
            errors=problems,
        )


@implements(api.DASHBOARDS)
def list_dashboards(ctx: Context, data: api.DashboardsInput) -> api.DashboardList:
    project = ctx.require_project()
    rows = ctx.session.scalars(
        select(DashboardRow).where(DashboardRow.project_id == project.id).order_by(DashboardRow.name)
    ).all()
    return api.DashboardList(items=[_out(r) for r in rows])


@implements(api.SAVE_DASHBOARD)
def save_dashboard(ctx: Context, data: api.SaveDashboardInput) -> api.Dashboard:
    _check_queries(data.panels)
    project = ctx.require_project()
    panels = [p.model_dump() for p in data.panels]
    row = ctx.session.scalars(
        select(DashboardRow).where(DashboardRow.project_id == project.id, DashboardRow.name == data.name)
    ).first()
    now = utcnow()
    if row is None:
        row = DashboardRow(
            project_id=project.id,
            name=data.name,
            created_by=ctx.actor.username,
            created_at=now,
        )
        ctx.session.add(row)
    row.title = data.title
    row.panels = panels
    row.updated_by = ctx.actor.username
    row.updated_at = now
    try:
        ctx.session.flush()
    except IntegrityError:  # another save of the same new name won the race
        raise Conflict(
            f"dashboard {data.name!r} was created by someone else just now", fix="save it again to replace theirs"
        ) from None
    return _out(row)


@implements(api.REMOVE_DASHBOARD)
def remove_dashboard(ctx: Context, data: api.DashboardNameInput) -> api.DashboardRemoved:
    row = find_dashboard(ctx, data.name)
    ctx.session.delete(row)
    return api.DashboardRemoved(name=data.name, removed=True)
