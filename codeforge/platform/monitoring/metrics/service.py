"""The metrics operations: a project's scrape targets (with the health this replica's scraper
saw) and what its store holds (metric names, label values, series of a selector)."""

from __future__ import annotations

from sqlalchemy import select

from codeforge import catalog
from codeforge.catalog.errors import BadInput, Conflict, FieldProblem, NotFound
from codeforge.catalog.monitoring.times import parse_duration, parse_time
from codeforge.platform.context import Context
from codeforge.platform.monitoring.metrics.models import ScrapeTarget
from codeforge.platform.monitoring.metrics.selector import SelectorError, parse_selector
from codeforge.platform.monitoring.records import Matcher
from codeforge.platform.monitoring.runtime import monitoring_for
from codeforge.platform.registry import implements

__all__ = ["parse_match"]

M = catalog.monitoring.metrics


def _target_out(ctx: Context, row: ScrapeTarget) -> M.Target:
    monitoring = monitoring_for(ctx.settings)
    return M.Target(
        name=row.name,
        url=row.url,
        interval_s=row.interval_s or monitoring.config.scrape_interval_s,
        timeout_s=row.timeout_s or monitoring.config.scrape_timeout_s,
        labels=dict(row.labels or {}),
        health="unknown" if row.last_up is None else "up" if row.last_up else "down",
        last_scrape=row.last_scrape_at,
        last_duration_s=row.last_duration_s,
        last_error=row.last_error or "",
        samples=row.last_samples,
        created_by=row.created_by,
        created_at=row.created_at,
    )


@implements(M.TARGETS)
def targets(ctx: Context, data: M.TargetsInput) -> M.TargetList:
    project = ctx.require_project()
    rows = ctx.session.scalars(
        select(ScrapeTarget).where(ScrapeTarget.project_id == project.id).order_by(ScrapeTarget.name)
    )
    return M.TargetList(items=[_target_out(ctx, row) for row in rows])


@implements(M.ADD_TARGET)
def add_target(ctx: Context, data: M.AddTargetInput) -> M.Target:
    project = ctx.require_project()
    taken = ctx.session.scalar(
        select(ScrapeTarget.id).where(ScrapeTarget.project_id == project.id, ScrapeTarget.name == data.name)
    )
    if taken is not None:
        raise Conflict(
            f"project {project.slug!r} already has a scrape target named {data.name!r}",
            fix="choose another name, or remove the target first with `codeforge monitoring remove_target`",
        )
    row = ScrapeTarget(
        project_id=project.id,
        name=data.name,
        url=data.url,
        interval_s=parse_duration(data.interval) if data.interval else None,
        timeout_s=parse_duration(data.timeout) if data.timeout else None,
        labels=dict(data.labels),
        created_by=ctx.actor.username,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return _target_out(ctx, row)


@implements(M.REMOVE_TARGET)
def remove_target(ctx: Context, data: M.RemoveTargetInput) -> M.TargetRemoved:
    project = ctx.require_project()
    row = ctx.session.scalar(
        select(ScrapeTarget).where(ScrapeTarget.project_id == project.id, ScrapeTarget.name == data.name)
    )
    if row is None:
        raise NotFound(
            f"project {project.slug!r} has no scrape target named {data.name!r}",
            fix="list the project's targets with `codeforge monitoring targets`",
        )
    ctx.session.delete(row)
    return M.TargetRemoved(name=data.name, removed=True)


def parse_match(text: str, field: str = "match") -> list[Matcher]:
    """A selector input's matchers; BadInput naming the field and column when it does not parse."""
    try:
        return parse_selector(text)
    except SelectorError as exc:
        raise BadInput.of_fields(
            [FieldProblem(field, f"{text!r} is not a series selector: {exc}", 'write e.g. up{job="api"}')]
        ) from None


@implements(M.SERIES)
def series(ctx: Context, data: M.SeriesInput) -> M.SeriesAnswer:
    project = ctx.require_project()
    store = monitoring_for(ctx.settings).metrics
    start_ms, end_ms = int(parse_time(data.start) * 1000), int(parse_time(data.end) * 1000)
    if start_ms > end_ms:
        raise BadInput.of_fields([FieldProblem("start", "is after end", "give a start before the end")])
    matchers = parse_match(data.match) if data.match else []
    if data.label:
        values = store.label_values(project.id, data.label, matchers, start_ms, end_ms)
        return M.SeriesAnswer(kind="values", values=values[: data.limit], truncated=len(values) > data.limit)
    if matchers:
        found = store.series(project.id, matchers, start_ms, end_ms)
        return M.SeriesAnswer(kind="series", series=found[: data.limit], truncated=len(found) > data.limit)
    names = store.label_values(project.id, "__name__", (), start_ms, end_ms)
    return M.SeriesAnswer(kind="names", values=names[: data.limit], truncated=len(names) > data.limit)
