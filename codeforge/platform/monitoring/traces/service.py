"""monitoring.traces and monitoring.trace: search summaries, and one trace as its span tree
(depth first, each span with its depth, children and offset from the trace's start)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from codeforge.catalog.errors import BadInput, FieldProblem, NotFound
from codeforge.catalog.monitoring import traces as ops
from codeforge.catalog.monitoring.times import parse_duration, parse_time
from codeforge.platform.context import Context
from codeforge.platform.monitoring.records import Span
from codeforge.platform.monitoring.runtime import monitoring_for
from codeforge.platform.monitoring.traces.store import TraceStore
from codeforge.platform.registry import implements

__all__ = ["search", "show", "span_tree"]


def _time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _store(ctx: Context) -> TraceStore:
    store: TraceStore = monitoring_for(ctx.settings).traces
    return store


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


@implements(ops.TRACES)
def search(ctx: Context, data: ops.TracesInput) -> ops.TraceList:
    project = ctx.require_project()
    min_ns = _ns(parse_duration(data.min_duration)) if data.min_duration else None
    max_ns = _ns(parse_duration(data.max_duration)) if data.max_duration else None
    if min_ns is not None and max_ns is not None and min_ns > max_ns:
        raise BadInput.of_fields(
            [
                FieldProblem(
                    "max_duration", f"{data.max_duration} is shorter than min_duration {data.min_duration}", "swap them"
                )
            ]
        )
    found = _store(ctx).search(
        project.id,
        service=data.service,
        operation=data.operation,
        min_duration_ns=min_ns,
        max_duration_ns=max_ns,
        error=data.error,
        start_ns=_ns(parse_time(data.since)) if data.since else None,
        end_ns=_ns(parse_time(data.until)) if data.until else None,
        limit=data.limit,
    )
    return ops.TraceList(
        items=[
            ops.TraceSummary(
                trace_id=t.trace_id,
                service=t.root_service,
                operation=t.root_name,
                start=_time(t.start_ns),
                duration_ms=t.duration_ns / 1e6,
                spans=t.span_count,
                errors=t.error_count,
                complete=t.has_root,
            )
            for t in found
        ]
    )


def span_tree(spans: list[Span]) -> list[tuple[Span, int, list[str], bool]]:
    """(span, depth, children's ids, orphan) depth first, siblings by start time. A span whose
    parent the trace lacks is a root of its own (an orphan), so nothing that arrived is hidden;
    a cycle of parents (a broken exporter) is cut where it would repeat a span."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[Span]] = defaultdict(list)
    roots: list[Span] = []
    for s in spans:  # spans come by start time, so each list is too
        if s.parent_span_id and s.parent_span_id in ids and s.parent_span_id != s.span_id:
            children[s.parent_span_id].append(s)
        else:
            roots.append(s)
    out: list[tuple[Span, int, list[str], bool]] = []
    seen: set[str] = set()

    def walk(s: Span, depth: int) -> None:
        seen.add(s.span_id)
        kids = [c for c in children.get(s.span_id, ()) if c.span_id not in seen]
        out.append((s, depth, [c.span_id for c in kids], bool(s.parent_span_id) and depth == 0))
        for c in kids:
            if c.span_id not in seen:
                walk(c, depth + 1)

    for root in roots:
        walk(root, 0)
    for s in spans:  # only in a cycle: spans no root reaches
        if s.span_id not in seen:
            walk(s, 0)
    return out


@implements(ops.TRACE)
def show(ctx: Context, data: ops.TraceInput) -> ops.Trace:
    project = ctx.require_project()
    trace_id = data.trace_id.lower()
    if trace_id == "0" * 32:
        raise BadInput.of_fields(
            [FieldProblem("trace_id", "is all zeros, which OTLP forbids", "use a trace id from monitoring.traces")]
        )
    spans = _store(ctx).trace(project.id, trace_id)
    if not spans:
        raise NotFound(
            f"project {project.slug!r} has no trace {trace_id}",
            fix="search with `monitoring.traces` (it may have passed retention, or not been exported yet)",
        )
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    nodes = [
        ops.SpanNode(
            span_id=s.span_id,
            parent_span_id=s.parent_span_id,
            depth=depth,
            children=kids,
            service=s.service,
            name=s.name,
            kind=s.kind,
            start=_time(s.start_ns),
            offset_ms=(s.start_ns - start) / 1e6,
            duration_ms=s.duration_ns / 1e6,
            status=s.status,
            status_message=s.status_message,
            error=s.status == "error",
            orphan=orphan,
            attributes=s.attributes,
            resource=s.resource,
            events=[
                ops.SpanEventView(
                    time=_time(e.time_ns), offset_ms=(e.time_ns - start) / 1e6, name=e.name, attributes=e.attributes
                )
                for e in s.events
            ],
        )
        for s, depth, kids, orphan in span_tree(spans)
    ]
    roots = [s for s in spans if not s.parent_span_id]
    return ops.Trace(
        trace_id=trace_id,
        service=roots[0].service if roots else "",
        operation=roots[0].name if roots else "",
        start=_time(start),
        duration_ms=(end - start) / 1e6,
        span_count=len(spans),
        error_count=sum(s.status == "error" for s in spans),
        spans=nodes,
    )
