"""The `edge` pane: the edge nodes (region, state, config version, behind) and the project's
routes with their hostnames, backends, weights and groups."""

from __future__ import annotations

from sqlalchemy import select

from codeforge.platform.context import Context
from codeforge.platform.edge import routes
from codeforge.platform.edge.models import EdgeConfig, EdgeNodeRow, EdgeRoute
from codeforge.platform.edge.settings import edge_settings
from codeforge.platform.panes.content import PaneContent, Table
from codeforge.platform.panes.registry import pane

__all__ = ["edge_pane"]


@pane("edge", "Edge")
def edge_pane(ctx: Context) -> PaneContent:
    project = ctx.require_project()
    config = ctx.session.get(EdgeConfig, 1)
    current = config.version if config else 0
    names = [s.name for s in edge_settings().node_specs()]
    node_rows = {r.name: r for r in ctx.session.scalars(select(EdgeNodeRow).where(EdgeNodeRow.name.in_(names)))}
    nodes = Table(
        "Nodes",
        ["node", "region", "state", "version", "behind", "HTTP", "HTTPS", "error"],
        [
            [
                node.name,
                node.region,
                node.state,
                str(node.version),
                "yes" if node.version < current else "no",
                node.http_address,
                node.https_address,
                node.error,
            ]
            for node in (node_rows[n] for n in names if n in node_rows)
        ],
        empty="no edge node runs (CODEFORGE_EDGE_NODES)",
    )
    rows = list(
        ctx.session.scalars(select(EdgeRoute).where(EdgeRoute.project_id == project.id).order_by(EdgeRoute.name))
    )
    table: list[list[str]] = []
    for row in rows:
        r = routes.Route.from_json(row.spec)
        weighted = any(b.weight != 1 for b in r.backends)
        for i, b in enumerate(r.backends):
            table.append(
                [
                    r.name if i == 0 else "",
                    ", ".join(r.hosts) if i == 0 else "",
                    b.address,
                    str(b.weight),
                    b.group,
                    ("weighted_round_robin" if weighted else r.lb_policy) if i == 0 else "",
                    (r.health_path or "none") if i == 0 else "",
                    ("yes" if r.cached else "no") if i == 0 else "",
                ]
            )
    return PaneContent(
        title="Edge",
        subtitle=f"config version {current}",
        sections=[
            nodes,
            Table(
                "Routes",
                ["route", "hosts", "backend", "weight", "group", "policy", "health", "cached"],
                table,
                empty="no route yet (`edge publish`)",
            ),
        ],
        refresh_s=5.0,
    )
