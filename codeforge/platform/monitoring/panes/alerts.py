"""The `alerts` pane: the project's alert rules with their health, the alerts they hold now
(pending, firing, recently resolved; silenced ones marked) and the silences."""

from __future__ import annotations

from codeforge.platform.context import Context
from codeforge.platform.monitoring.panes.common import guarded
from codeforge.platform.panes.content import PaneContent, Table
from codeforge.platform.panes.registry import pane

__all__ = ["alerts_pane"]


def _labels(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")


def _rules(ctx: Context) -> Table:
    from codeforge import catalog
    from codeforge.platform.monitoring.alerts import service

    found = service.rules(ctx, catalog.monitoring.alerts.RULES.input(project=ctx.require_project().slug))
    rows = []
    for r in found.items:
        condition = r.expr + (f" {r.op} {r.value:g}" if r.op and r.value is not None else "")
        if r.kind == "log" and r.window:
            condition = f"count({r.expr}) over {r.window}" + (
                f" {r.op} {r.value:g}" if r.op and r.value is not None else ""
            )
        counts = f"{r.alerts.firing} firing, {r.alerts.pending} pending"
        rows.append(
            [
                r.name,
                r.kind,
                condition,
                r.for_duration,
                r.health + (f": {r.last_error}" if r.last_error else ""),
                counts,
            ]
        )
    return Table(
        "Rules",
        ["rule", "kind", "condition", "for", "health", "alerts"],
        rows,
        empty="no rules yet: monitoring.add_rule",
    )


def _alerts(ctx: Context) -> Table:
    from codeforge import catalog
    from codeforge.platform.monitoring.alerts import service

    found = service.alerts(
        ctx, catalog.monitoring.alerts.ALERTS.input(project=ctx.require_project().slug, include_resolved=True)
    )
    order = {"firing": 0, "pending": 1, "resolved": 2}
    rows = [
        [
            a.rule,
            a.state.upper() if a.state == "firing" else a.state,
            "silenced by " + ", ".join(a.silenced_by) if a.silenced_by else "",
            _labels(a.labels),
            "" if a.value is None else f"{a.value:g}",
            f"{a.active_since:%Y-%m-%d %H:%M:%S}",
            f"{a.resolved_at:%H:%M:%S}" if a.resolved_at else "",
        ]
        for a in sorted(found.items, key=lambda a: (order.get(a.state, 3), a.rule))
    ]
    return Table(
        "Alerts",
        ["rule", "state", "silenced", "labels", "value", "active since (UTC)", "resolved"],
        rows,
        empty="no alerts: every rule is quiet",
    )


def _silences(ctx: Context) -> Table:
    from codeforge import catalog
    from codeforge.platform.monitoring.alerts import service

    found = service.silences(ctx, catalog.monitoring.alerts.SILENCES.input(project=ctx.require_project().slug))
    rows = [
        [
            s.id,
            ", ".join(s.matchers),
            s.state,
            f"{s.starts_at:%Y-%m-%d %H:%M}",
            f"{s.ends_at:%Y-%m-%d %H:%M}",
            s.created_by,
            s.comment,
        ]
        for s in found.items
    ]
    return Table(
        "Silences",
        ["id", "matchers", "state", "starts (UTC)", "ends (UTC)", "by", "comment"],
        rows,
        empty="no silences",
    )


@pane("alerts", "Alerts")
def alerts_pane(ctx: Context) -> PaneContent:
    return PaneContent(
        title=f"Alerts — {ctx.require_project().slug}",
        subtitle="rules, their alerts and silences · times in UTC",
        sections=[
            guarded("Alerts", lambda: _alerts(ctx)),
            guarded("Rules", lambda: _rules(ctx)),
            guarded("Silences", lambda: _silences(ctx)),
        ],
        refresh_s=10,
    )
