"""The `dashboard` pane: a saved dashboard, one chart per panel over the last hour, live."""

from __future__ import annotations

from functools import partial

from codeforge.platform.context import Context
from codeforge.platform.monitoring.dashboards.service import find_dashboard
from codeforge.platform.monitoring.panes.common import chart, guarded
from codeforge.platform.panes.content import PaneContent
from codeforge.platform.panes.registry import item_pane

__all__ = ["dashboard"]

RANGE_MS = 3_600_000


@item_pane("dashboard", "Dashboard", item="dashboard")
def dashboard(ctx: Context, name: str) -> PaneContent:
    row = find_dashboard(ctx, name)  # NotFound (naming the project's dashboards) refuses the link
    sections = [
        guarded(p["title"], partial(chart, ctx, p["title"], p["query"], p.get("unit", ""), range_ms=RANGE_MS))
        for p in row.panels
    ]
    return PaneContent(
        title=row.title or row.name,
        subtitle=f"dashboard {row.name} of {ctx.require_project().slug} · last hour · times in UTC · "
        f"saved by {row.updated_by} at {row.updated_at:%Y-%m-%d %H:%M}",
        sections=sections,
        refresh_s=10,
    )
