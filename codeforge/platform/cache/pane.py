"""The `cache` pane: hit ratio per route, its rules, and each node's cache."""

from __future__ import annotations

from codeforge import catalog
from codeforge.platform.context import Context
from codeforge.platform.panes.content import Bars, PaneContent, Section, Table
from codeforge.platform.panes.registry import pane

__all__ = ["cache_pane"]


@pane("cache", "Cache")
def cache_pane(ctx: Context) -> PaneContent:
    from codeforge.platform.cache import service

    stats = service.stats(ctx, catalog.cache.StatsInput(project=ctx.require_project().slug, minutes=60))
    rules = service.rules(ctx, catalog.cache.RulesInput(project=ctx.require_project().slug))
    sections: list[Section] = [
        Bars(
            "Hit ratio per route, last hour",
            [
                (r.route, r.hit_ratio or 0.0, f"{(r.hit_ratio or 0.0):.0%} ({r.hits} hits, {r.misses} misses)")
                for r in stats.routes
            ],
            empty="no cached requests in the last hour",
        ),
        Table(
            "Requests, last hour",
            ["route", "hits", "misses", "passed (uncached)", "hit ratio"],
            [
                [
                    r.route,
                    str(r.hits),
                    str(r.misses),
                    str(r.passes),
                    "" if r.hit_ratio is None else f"{r.hit_ratio:.1%}",
                ]
                for r in stats.routes
            ],
            empty="no cached requests in the last hour",
        ),
        Table(
            "Rules",
            ["route", "path", "match", "TTL", "grace", "key varies on", "query in key", "bypass"],
            [
                [
                    r.route,
                    r.path,
                    r.match,
                    f"{r.ttl_s} s",
                    f"{r.grace_s} s",
                    ", ".join(r.vary_headers) or "host and URL",
                    "yes" if r.query_string else "no",
                    ", ".join(
                        b for b, on in (("cookie", r.bypass_cookie), ("authorization", r.bypass_authorization)) if on
                    )
                    or "none",
                ]
                for r in rules.items
            ],
            empty="no rules: CodeForge: Set a cache rule for a route",
        ),
        Table(
            "Nodes",
            ["node", "cache", "note"],
            [[n.node, "up" if n.ok else "unreachable", n.error] for n in stats.nodes],
            empty="no edge nodes with a cache",
        ),
    ]
    return PaneContent(title="Cache", subtitle=ctx.require_project().slug, sections=sections, refresh_s=15)
