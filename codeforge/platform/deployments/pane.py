"""The `deployments` pane (docs/deployments.md, "Editors"): a project's deployments with the
release serving and its standby, every release with its state, traffic share and instances,
and each release's requests, errors and latency per region from the edge's metrics. Free
text (a rollback's reason, which may quote an instance's log) has credentials masked."""

from __future__ import annotations

import contextlib

from sqlalchemy import select

from codeforge import catalog
from codeforge.catalog.errors import scrub_secrets
from codeforge.platform.context import Context
from codeforge.platform.deployments.models import Deployment
from codeforge.platform.panes.content import Bars, PaneContent, Section, Table
from codeforge.platform.panes.registry import pane

__all__ = ["deployments_pane"]

D = catalog.deployments


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"


@pane("deployments", "Deployments")
def deployments_pane(ctx: Context) -> PaneContent:
    from codeforge.platform.deployments import service

    project = ctx.require_project()
    rows = list(
        ctx.session.scalars(select(Deployment).where(Deployment.project_id == project.id).order_by(Deployment.name))
    )
    infos = [service.deployment_info(ctx, ctx.session, d) for d in rows]
    releases: list[list[str]] = []
    shares: list[tuple[str, float, str]] = []
    stats: list[list[str]] = []
    for info in infos:
        for rel in info.releases:
            releases.append(
                [
                    info.name, f"v{rel.number}", rel.state, f"{rel.traffic}%", rel.source,
                    ", ".join(f"{i.address}{' (' + i.region + ')' if i.region else ''}" for i in rel.instances),
                    scrub_secrets(rel.error)[:300], rel.created_at.strftime("%Y-%m-%d %H:%M"),
                ]
            )  # fmt: skip
            if rel.traffic:
                shares.append((f"{info.name} v{rel.number}", float(rel.traffic), f"{rel.traffic}%"))
        with contextlib.suppress(Exception):  # no metrics yet is an empty table, not a broken pane
            for a in service.analytics(ctx, D.AnalyticsInput(project=project.slug, name=info.name)).items:
                stats.append(
                    [info.name, f"v{a.release}", a.region or "(default)", str(a.requests), str(a.errors),
                     f"{a.error_rate:.2f}%", _ms(a.p50_ms), _ms(a.p99_ms)]
                )  # fmt: skip
    sections: list[Section] = [
        Table(
            "Deployments",
            ["name", "state", "strategy", "serving", "standby", "hosts", "regions", "last rollout"],
            [
                [
                    i.name,
                    i.state,
                    i.strategy,
                    f"v{i.current}" if i.current else "-",
                    f"v{i.standby}" if i.standby else "-",
                    ", ".join(i.hosts),
                    ", ".join(i.regions) or "(default)",
                    scrub_secrets(i.message)[:300],
                ]
                for i in infos
            ],
            empty="no deployments yet: CodeForge: Deploy a new release",
        ),
        Bars("Traffic now", shares, empty="no release receives traffic"),
        Table(
            "Releases (newest first)",
            ["deployment", "release", "state", "traffic", "source", "instances", "error", "made (UTC)"],
            releases,
            empty="no releases yet",
        ),
        Table(
            "Analytics (since each release's first request)",
            ["deployment", "release", "region", "requests", "5xx", "error rate", "p50", "p99"],
            stats,
            empty="no requests through the edge yet",
        ),
    ]
    live = sum(1 for i in infos if i.state == "live")
    return PaneContent(
        title=f"Deployments of {project.slug}",
        subtitle=f"{len(infos)} deployment(s), {live} live · times in UTC",
        sections=sections,
        refresh_s=5.0,
    )
