"""The `traces` pane (recent traces, of one service or all, with their durations over time)
and the `trace` pane (one trace's spans as a waterfall)."""

from __future__ import annotations

from codeforge.catalog.errors import NotFound
from codeforge.platform.context import Context
from codeforge.platform.monitoring.panes.common import failure, guarded, monitoring, when_ns
from codeforge.platform.monitoring.records import Span
from codeforge.platform.panes.content import Chart, PaneContent, Section, Table, Waterfall
from codeforge.platform.panes.registry import item_pane

__all__ = ["span_rows", "trace", "traces"]

LIMIT = 100


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.1f} ms"


@item_pane("traces", "Traces", item="service", optional=True)
def traces(ctx: Context, service: str) -> PaneContent:
    project = ctx.require_project()
    service = service.strip()
    sections: list[Section] = []
    try:
        store = monitoring(ctx).traces
        known = store.services(project.id)
        if service and service not in known:
            raise NotFound(
                f"no trace of project {project.slug!r} has a span of service {service!r}",
                fix=f"use one of: {', '.join(known)}" if known else "send traces to /otlp/{project}/v1/traces first",
            )
        found = store.search(project.id, service=service or None, limit=LIMIT)
    except NotFound:
        raise
    except Exception as exc:
        return PaneContent(title=f"Traces — {project.slug}", sections=[failure("Recent traces", exc)])
    oldest_first = sorted(found, key=lambda t: t.start_ns)
    sections.append(
        Chart(
            "Trace durations",
            [("duration", [(t.start_ns // 1_000_000, t.duration_ns / 1e6) for t in oldest_first])],
            unit="ms",
            empty="no traces yet",
            dots=True,
        )
    )
    sections.append(
        Table(
            f"Recent traces ({len(found)}, newest first)",
            ["trace", "root", "started (UTC)", "duration", "spans", "errors"],
            [
                [
                    t.trace_id,
                    f"{t.root_service}: {t.root_name}" if t.has_root else "(root span not received)",
                    when_ns(t.start_ns),
                    _ms(t.duration_ns),
                    str(t.span_count),
                    str(t.error_count) if t.error_count else "",
                ]
                for t in found
            ],
            empty="no traces yet: send OTLP to /otlp/{project}/v1/traces",
        )
    )
    sections.append(guarded("Services", lambda: Table("Services", ["service"], [[s] for s in known], empty="none yet")))
    return PaneContent(
        title=f"Traces — {project.slug}",
        subtitle=f"service {service}" if service else "every service · times in UTC",
        sections=sections,
    )


def span_rows(spans: list[Span]) -> list[tuple[int, Span]]:
    """Spans in tree order (each parent before its children, siblings by start) with their
    depth; a span whose parent never arrived starts a tree of its own."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[Span]] = {}
    roots = []
    for span in sorted(spans, key=lambda s: (s.start_ns, s.span_id)):
        if span.parent_span_id and span.parent_span_id in ids and span.parent_span_id != span.span_id:
            children.setdefault(span.parent_span_id, []).append(span)
        else:
            roots.append(span)
    out: list[tuple[int, Span]] = []
    seen: set[str] = set()
    stack = [(0, s) for s in reversed(roots)]
    while stack:
        depth, span = stack.pop()
        if span.span_id in seen:  # a cycle of parents in a malformed trace
            continue
        seen.add(span.span_id)
        out.append((depth, span))
        stack += [(depth + 1, c) for c in reversed(children.get(span.span_id, []))]
    return out


def _detail(span: Span) -> str:
    parts = [span.kind]
    if span.status == "error":
        parts.append(f"error: {span.status_message}" if span.status_message else "error")
    for key in ("http.method", "http.route", "http.status_code", "db.statement"):
        if key in span.attributes:
            parts.append(f"{key}={span.attributes[key]}")
    return " · ".join(str(p) for p in parts)


@item_pane("trace", "Trace", item="trace")
def trace(ctx: Context, trace_id: str) -> PaneContent:
    project = ctx.require_project()
    spans = monitoring(ctx).traces.trace(project.id, trace_id.strip().lower())
    if not spans:
        raise NotFound(
            f"project {project.slug!r} has no trace {trace_id!r}",
            fix="pick a trace id (32 hex digits) from the traces pane or monitoring.traces",
        )
    ordered = span_rows(spans)
    t0 = min(s.start_ns for s in spans)
    duration = max(s.end_ns for s in spans) - t0
    errors = sum(1 for s in spans if s.status == "error")
    rows = [
        (depth, f"{s.service}: {s.name}", (s.start_ns - t0) / 1e6, s.duration_ns / 1e6, s.status == "error", _detail(s))
        for depth, s in ordered
    ]
    events = [
        [
            when_ns(e.time_ns),
            s.name,
            e.name,
            str(e.attributes.get("exception.type", "")),
            str(e.attributes.get("exception.message", ""))[:160],
        ]
        for _, s in ordered
        for e in s.events
    ]
    return PaneContent(
        title=f"Trace {trace_id}",
        subtitle=f"{len(spans)} spans · {_ms(duration)} · {errors} error span{'s' * (errors != 1)} · started {when_ns(t0)} UTC",
        sections=[
            Waterfall("Spans", rows),
            Table("Span events", ["time (UTC)", "span", "event", "type", "message"], events, empty="no span events"),
        ],
    )
