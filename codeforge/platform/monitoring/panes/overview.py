"""The `monitoring` pane: the project at a glance. Its scrape targets up or down, a request
rate (and latency, where a histogram says it) chart per target, the alerts firing now and the
errors seen most."""

from __future__ import annotations

from functools import partial

from sqlalchemy import select

from codeforge.platform.context import Context
from codeforge.platform.monitoring.panes.common import chart, failure, guarded, monitoring, now_ms, when_ns
from codeforge.platform.monitoring.records import Matcher
from codeforge.platform.panes.content import Chart, PaneContent, Section, Table
from codeforge.platform.panes.registry import pane

__all__ = ["key_series", "overview"]

RANGE_MS = 15 * 60_000
MAX_TARGET_CHARTS = 6
OPEN_ERROR_STATES = ("unresolved", "regressed")


def _q(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def key_series(names: list[str], job: str) -> list[tuple[str, str, str]]:
    """(title, PromQL, unit) of what best tells how a target is doing: its request counter's
    rate (else its busiest-sounding counter's), and the 95th percentile of its request
    duration histogram when it has one."""
    counters = [n for n in names if n.endswith("_total") and not n.startswith(("scrape_", "process_", "python_"))]
    wanted = [n for n in counters if "request" in n] or counters
    found = []
    sel = f'{{job="{_q(job)}"}}'
    if wanted:
        name = wanted[0]
        found.append((f"{job}: {name} per second", f"sum by (job) (rate({name}{sel}[1m]))", "/s"))
    buckets = [n for n in names if n.endswith("_seconds_bucket") and ("request" in n or "duration" in n)]
    if buckets:
        name = buckets[0]
        found.append(
            (
                f"{job}: {name.removesuffix('_bucket')} p95",
                f"histogram_quantile(0.95, sum by (job, le) (rate({name}{sel}[1m])))",
                "s",
            )
        )
    return found


def _targets(ctx: Context) -> tuple[Table, list[str]]:
    from codeforge.platform.monitoring.metrics.models import ScrapeTarget

    project = ctx.require_project()
    rows = ctx.session.scalars(
        select(ScrapeTarget).where(ScrapeTarget.project_id == project.id).order_by(ScrapeTarget.name)
    ).all()
    end = now_ms()
    store = monitoring(ctx).metrics
    table = []
    for row in rows:
        ups = store.select(
            project.id, [Matcher("__name__", "=", "up"), Matcher("job", "=", row.name)], end - RANGE_MS, end
        )
        last = max(((d.times_ms[-1], d.values[-1]) for d in ups if d.times_ms), default=None)
        state = "not scraped yet" if last is None else ("up" if last[1] >= 1 else "DOWN")
        seen = "" if last is None else when_ns(last[0] * 1_000_000)
        table.append([row.name, row.url, state, seen])
    return (
        Table(
            "Scrape targets",
            ["target", "url", "state", "last scrape (UTC)"],
            table,
            empty="no scrape targets yet: add one with monitoring.add_target",
        ),
        [r.name for r in rows],
    )


def _target_charts(ctx: Context, jobs: list[str]) -> list[Section]:
    project_id = ctx.require_project().id
    store = monitoring(ctx).metrics
    end = now_ms()
    sections: list[Section] = []
    for job in jobs[:MAX_TARGET_CHARTS]:
        names = store.label_values(project_id, "__name__", [Matcher("job", "=", job)], end - RANGE_MS, end)
        for title, query, unit in key_series(names, job):
            sections.append(guarded(title, partial(chart, ctx, title, query, unit, range_ms=RANGE_MS)))
    return sections


def _firing(ctx: Context) -> Table:
    from codeforge import catalog
    from codeforge.platform.monitoring.alerts import service as alerts

    project = ctx.require_project()
    found = alerts.alerts(ctx, catalog.monitoring.alerts.ALERTS.input(project=project.slug))
    rows = [
        [
            a.rule,
            a.state + (" (silenced)" if a.silenced_by else ""),
            ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if k != "alertname"),
            "" if a.value is None else f"{a.value:g}",
            f"{a.fired_at or a.active_since:%Y-%m-%d %H:%M:%S}",
        ]
        for a in found.items
        if a.state in ("firing", "pending")
    ]
    rows.sort(key=lambda r: (r[1] != "firing", r[0]))
    return Table(
        "Alerts firing or pending",
        ["rule", "state", "labels", "value", "since (UTC)"],
        rows,
        empty="no alert is firing",
    )


def _top_errors(ctx: Context) -> Table:
    groups = [
        g for g in monitoring(ctx).errors.groups(ctx.require_project().id, limit=200) if g.state in OPEN_ERROR_STATES
    ]
    groups.sort(key=lambda g: (-g.count, -g.last_seen_ns))
    return Table(
        "Top unresolved errors",
        ["group", "error", "count", "last seen (UTC)", "state"],
        [[g.id, f"{g.type}: {g.message}"[:120], str(g.count), when_ns(g.last_seen_ns), g.state] for g in groups[:10]],
        empty="no unresolved errors",
    )


@pane("monitoring", "Monitoring")
def overview(ctx: Context) -> PaneContent:
    project = ctx.require_project()
    sections: list[Section] = []
    jobs: list[str] = []

    def targets() -> Section:
        table, names = _targets(ctx)
        jobs.extend(names)
        return table

    sections.append(guarded("Scrape targets", targets))
    if jobs:
        sections.append(
            guarded(
                "Targets up",
                lambda: chart(
                    ctx, "Targets up (1 up, 0 down)", "max by (job) (up)", range_ms=RANGE_MS, y_min=0, y_max=1
                ),
            )
        )
        try:
            sections += _target_charts(ctx, jobs)
        except Exception as exc:  # the targets' charts are extras: the page shows without them
            sections.append(failure("Target charts", exc))
    else:
        sections.append(Chart("Targets up", [], empty="no data yet: no scrape targets"))
    sections.append(guarded("Alerts firing or pending", lambda: _firing(ctx)))
    sections.append(guarded("Top unresolved errors", lambda: _top_errors(ctx)))
    return PaneContent(
        title=f"Monitoring — {project.slug}",
        subtitle="last 15 minutes · times in UTC",
        sections=sections,
        refresh_s=10,
    )
