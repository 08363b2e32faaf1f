"""monitoring.errors, monitoring.error, monitoring.triage: the project's error groups from the
ErrorStore (store.py), as the catalog declares them (codeforge/catalog/monitoring/errors.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from codeforge import catalog
from codeforge.catalog.errors import NotFound
from codeforge.catalog.monitoring.times import parse_time_ns_field
from codeforge.platform.monitoring.records import StackFrame
from codeforge.platform.monitoring.runtime import monitoring_for
from codeforge.platform.registry import implements

if TYPE_CHECKING:
    from codeforge.platform.context import Context
    from codeforge.platform.monitoring.errors.store import ErrorGroup, ErrorStore

__all__: list[str] = []


def _time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _frames(frames: list[StackFrame]) -> list[catalog.monitoring.errors.ErrorFrame]:
    return [
        catalog.monitoring.errors.ErrorFrame(
            path=f.path, line=f.line, function=f.function, in_app=f.in_app, code=f.code
        )
        for f in frames
    ]


def _group_out(group: ErrorGroup) -> catalog.monitoring.errors.ErrorGroup:
    return catalog.monitoring.errors.ErrorGroup(
        id=group.id,
        type=group.type,
        message=group.message,
        culprit=group.culprit,
        count=group.count,
        first_seen=_time(group.first_seen_ns),
        last_seen=_time(group.last_seen_ns),
        state=group.state,  # one of STATES, as the table holds it
        services=group.services,
        resolved_at=None if group.resolved_at_ns is None else _time(group.resolved_at_ns),
        resolved_by=group.resolved_by,
        frames=_frames(group.frames),
    )


def _detail_out(group: ErrorGroup) -> catalog.monitoring.errors.ErrorDetail:
    events = [
        catalog.monitoring.errors.ErrorEvent(
            time=_time(e.time_ns),
            type=e.type,
            message=e.message,
            service=e.service,
            trace_id=e.trace_id,
            span_id=e.span_id,
            source=e.source,
            labels=e.labels,
            frames=_frames(e.frames),
            stacktrace=e.stacktrace,
        )
        for e in group.events
    ]
    return catalog.monitoring.errors.ErrorDetail(**_group_out(group).model_dump(), events=events)


def _store(ctx: Context) -> ErrorStore:
    store: ErrorStore = monitoring_for(ctx.settings).errors
    return store


def _unknown(ctx: Context, group_id: str) -> NotFound:
    return NotFound(
        f"project {ctx.require_project().slug!r} has no error {group_id!r}",
        fix="list its errors with `codeforge monitoring errors`",
    )


@implements(catalog.monitoring.errors.ERRORS)
def list_errors(ctx: Context, data: catalog.monitoring.errors.ErrorsInput) -> catalog.monitoring.errors.ErrorList:
    since_ns = parse_time_ns_field("since", data.since) if data.since else None
    groups = _store(ctx).groups(
        ctx.require_project().id,
        state=data.state,
        service=data.service,
        query=data.query,
        since_ns=since_ns,
        limit=data.limit,
    )
    return catalog.monitoring.errors.ErrorList(items=[_group_out(g) for g in groups])


@implements(catalog.monitoring.errors.ERROR)
def show_error(ctx: Context, data: catalog.monitoring.errors.ErrorInput) -> catalog.monitoring.errors.ErrorDetail:
    group = _store(ctx).group(ctx.require_project().id, data.error)
    if group is None:
        raise _unknown(ctx, data.error)
    return _detail_out(group)


@implements(catalog.monitoring.errors.TRIAGE)
def triage(ctx: Context, data: catalog.monitoring.errors.TriageInput) -> catalog.monitoring.errors.ErrorDetail:
    group = _store(ctx).triage(ctx.require_project().id, data.error, data.state, ctx.actor.username)
    if group is None:
        raise _unknown(ctx, data.error)
    return _detail_out(group)
