"""The cache's operations: rules (stored, compiled to VCL and loaded on every node), purges on
every node, hit/miss statistics from monitoring."""

from __future__ import annotations

import time

from sqlalchemy import select

from codeforge import catalog
from codeforge.catalog.errors import NotFound
from codeforge.platform.cache.apply import apply_purge, ban_words, push_vcl, route_caches, route_id
from codeforge.platform.cache.models import CacheRuleRow, PendingPurge
from codeforge.platform.cache.nodes import cache_nodes, cached_routes, edge_installed, project_routes
from codeforge.platform.cache.supervisor import METRIC
from codeforge.platform.cache.varnish import Admin, VarnishError
from codeforge.platform.context import Context
from codeforge.platform.registry import implements

__all__ = ["stats_of"]

C = catalog.cache


def _rule(row: CacheRuleRow) -> C.CacheRule:
    return C.CacheRule(
        route=row.route,
        path=row.path,
        match="exact" if row.match == "exact" else "prefix",
        ttl_s=row.ttl_s,
        grace_s=row.grace_s,
        vary_headers=list(row.vary_headers or []),
        query_string=row.query_string,
        bypass_cookie=row.bypass_cookie,
        bypass_authorization=row.bypass_authorization,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _check_route(ctx: Context, route: str) -> None:
    """The route must be one the edge publishes for this project (when the edge is installed)."""
    if not edge_installed():
        return
    names = {r.name for r in project_routes(ctx.session, ctx.require_project().id)}
    if route not in names:
        raise NotFound(
            f"this project has no edge route named {route!r}",
            fix="publish the route first (edge), then cache it; list routes with `codeforge edge routes`",
        )


def _find(ctx: Context, data: C.RuleKeyInput) -> CacheRuleRow | None:
    return ctx.session.scalar(
        select(CacheRuleRow).where(
            CacheRuleRow.project_id == ctx.require_project().id,
            CacheRuleRow.route == data.route,
            CacheRuleRow.match == data.match,
            CacheRuleRow.path == data.path,
        )
    )


def _push(ctx: Context) -> list[C.NodeOutcome]:
    ctx.session.flush()
    nodes = cache_nodes(ctx.session, ctx.settings)
    outcome = push_vcl(nodes, route_caches(ctx.session, cached_routes(ctx.session)))
    return [C.NodeOutcome(node=n.name, ok=n.name in outcome.ok, error=outcome.failed.get(n.name, "")) for n in nodes]


@implements(C.RULES)
def rules(ctx: Context, data: C.RulesInput) -> C.CacheRuleList:
    query = select(CacheRuleRow).where(CacheRuleRow.project_id == ctx.require_project().id)
    if data.route:
        query = query.where(CacheRuleRow.route == data.route)
    rows = ctx.session.scalars(query.order_by(CacheRuleRow.route, CacheRuleRow.path, CacheRuleRow.match))
    return C.CacheRuleList(items=[_rule(r) for r in rows])


@implements(C.SET_RULE)
def set_rule(ctx: Context, data: C.RuleInput) -> C.SetRuleResult:
    _check_route(ctx, data.route)
    row = _find(ctx, data)
    if row is None:
        row = CacheRuleRow(project_id=ctx.require_project().id, route=data.route, path=data.path, match=data.match)
        ctx.session.add(row)
    row.ttl_s = data.ttl_s
    row.grace_s = data.grace_s
    row.vary_headers = list(data.vary_headers)
    row.query_string = data.query_string
    row.bypass_cookie = data.bypass_cookie
    row.bypass_authorization = data.bypass_authorization
    row.updated_by = ctx.actor.username
    nodes = _push(ctx)  # a refused VCL raises, and the row goes with the transaction
    return C.SetRuleResult(rule=_rule(row), nodes=nodes)


@implements(C.DELETE_RULE)
def delete_rule(ctx: Context, data: C.RuleKeyInput) -> C.SetRuleResult:
    row = _find(ctx, data)
    if row is None:
        raise NotFound(
            f"route {data.route!r} has no {data.match} rule for {data.path}",
            fix="list the rules with `codeforge cache rules`",
        )
    out = _rule(row)
    ctx.session.delete(row)
    return C.SetRuleResult(rule=out, nodes=_push(ctx))


@implements(C.PURGE)
def purge(ctx: Context, data: C.PurgeInput) -> C.PurgeResult:
    project = ctx.require_project()
    routes = [r for r in project_routes(ctx.session, project.id) if r.cached]
    if data.route and edge_installed() and data.route not in {r.name for r in routes}:
        raise NotFound(
            f"this project has no cached edge route named {data.route!r}",
            fix="name a route published with `cached` on, or leave route empty for all of them",
        )
    hosts = [h for r in routes if not data.route or r.name == data.route for h in r.hosts]
    words, what = ban_words(project.id, data.route, url=data.url, prefix=data.prefix, tag=data.tag, hosts=hosts)
    outcome = apply_purge(ctx.session, cache_nodes(ctx.session, ctx.settings), project.id, words, what)
    return C.PurgeResult(
        purged_on=outcome.purged_on,
        pending=[C.NodeOutcome(node=n, ok=False, error=e) for n, e in outcome.pending.items()],
    )


def stats_of(ctx: Context, route: str, minutes: int) -> list[C.RouteStats]:
    """Requests per route and result over the last `minutes`, from monitoring's store."""
    from codeforge.platform.monitoring.records import Matcher
    from codeforge.platform.monitoring.runtime import monitoring_for

    project = ctx.require_project()
    matchers = [Matcher("__name__", "=", METRIC)]
    if route:
        matchers.append(Matcher("route", "=", route))
    end_ms = time.time_ns() // 1_000_000
    start_ms = end_ms - minutes * 60_000
    store = monitoring_for(ctx.settings).metrics
    before = {
        tuple(sorted(s.labels.items())): s.values[-1]
        for s in store.select(project.id, matchers, 0, start_ms - 1)
        if s.values
    }
    counts: dict[str, dict[str, float]] = {}
    for series in store.select(project.id, matchers, start_ms, end_ms):
        previous = before.get(tuple(sorted(series.labels.items())), 0.0)
        total = 0.0
        for value in series.values:
            total += value - previous if value >= previous else value  # a restart resets the counter
            previous = value
        per = counts.setdefault(series.labels.get("route", ""), {})
        result = series.labels.get("result", "")
        per[result] = per.get(result, 0.0) + total
    out: list[C.RouteStats] = []
    for name in sorted(counts):
        per = counts[name]
        hits, misses, passes = int(per.get("hit", 0)), int(per.get("miss", 0)), int(per.get("pass", 0))
        out.append(
            C.RouteStats(
                route=name,
                hits=hits,
                misses=misses,
                passes=passes,
                hit_ratio=round(hits / (hits + misses), 4) if hits + misses else None,
            )
        )
    return out


@implements(C.STATS)
def stats(ctx: Context, data: C.StatsInput) -> C.Stats:
    nodes: list[C.NodeOutcome] = []
    for node in cache_nodes(ctx.session, ctx.settings):
        try:
            Admin.from_workdir(node.workdir, timeout=2.0).call("ping")
            owed = len(list(ctx.session.scalars(select(PendingPurge.id).where(PendingPurge.node == node.name))))
            nodes.append(C.NodeOutcome(node=node.name, ok=True, error=f"owes {owed} purges" if owed else ""))
        except VarnishError as exc:
            nodes.append(C.NodeOutcome(node=node.name, ok=False, error=str(exc)))
    _ = route_id  # route ids are "<project id>/<route>" in the VCL; the metric names the route alone
    return C.Stats(routes=stats_of(ctx, data.route, data.minutes), nodes=nodes)
