"""What the cache does to its nodes: the VCL every node should run (from the stored rules and
the edge's cached routes), pushing it, and purges as bans on every node, a node that did not
answer owing the ban until it does (`retry_pending`)."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.platform.cache.models import CacheRuleRow, PendingPurge
from codeforge.platform.cache.nodes import CachedRoute, CacheNode
from codeforge.platform.cache.varnish import Admin, Unreachable, VarnishError, VclRefused
from codeforge.platform.cache.vcl import RouteCache, RuleSpec, generate, regex_escape

__all__ = [
    "PurgeOutcome",
    "PushOutcome",
    "apply_purge",
    "ban_words",
    "push_vcl",
    "retry_pending",
    "route_id",
    "vcl_for",
]

log = logging.getLogger("codeforge.cache")
_URL_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@%/?")


def route_id(project_id: str, route: str) -> str:
    return f"{project_id}/{route}"


def rule_spec(row: CacheRuleRow) -> RuleSpec:
    return RuleSpec(
        path=row.path,
        match="exact" if row.match == "exact" else "prefix",
        ttl_s=row.ttl_s,
        grace_s=row.grace_s,
        vary_headers=tuple(row.vary_headers or ()),
        query_string=row.query_string,
        bypass_cookie=row.bypass_cookie,
        bypass_authorization=row.bypass_authorization,
    )


def route_caches(session: Session, routes: Sequence[CachedRoute]) -> list[RouteCache]:
    """Each cached route with its rules (a cached route without rules passes everything)."""
    rows = list(session.scalars(select(CacheRuleRow).order_by(CacheRuleRow.project_id, CacheRuleRow.route)))
    by_route: dict[tuple[str, str], list[RuleSpec]] = {}
    for row in rows:
        by_route.setdefault((row.project_id, row.route), []).append(rule_spec(row))
    return [
        RouteCache(route_id(r.project_id, r.name), r.hosts, tuple(by_route.get((r.project_id, r.name), ())))
        for r in routes
        if r.hosts
    ]


def vcl_for(node: CacheNode, routes: Sequence[RouteCache]) -> str:
    return generate(routes, node.backend)


@dataclass
class PushOutcome:
    ok: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def push_vcl(nodes: Sequence[CacheNode], routes: Sequence[RouteCache]) -> PushOutcome:
    """Load and use the VCL on every node. A VCL the compiler refuses is BadInput (nodes that
    had already taken it are put back on the VCL they ran before); a node that does not answer
    is in `failed` and gets the VCL from the supervisor when it answers again."""
    outcome = PushOutcome()
    done: list[tuple[CacheNode, str]] = []  # node, the VCL it ran before
    for node in nodes:
        try:
            admin = Admin.from_workdir(node.workdir)
            before = (node.workdir / "active.vcl").read_text() if (node.workdir / "active.vcl").exists() else ""
            admin.load(vcl_for(node, routes), node.workdir)
            done.append((node, before))
            outcome.ok.append(node.name)
        except VclRefused as exc:
            for took, before in done:
                if before:
                    try:
                        Admin.from_workdir(took.workdir).load(before, took.workdir)
                    except VarnishError as undo:
                        log.warning("cache: could not put %s back on its VCL: %s", took.name, undo)
            raise BadInput(
                "the cache refused the configuration these rules make; the one before stays live",
                fix=f"change the rule; Varnish said: {str(exc).strip()[:800]}",
            ) from None
        except (VarnishError, ValueError) as exc:
            outcome.failed[node.name] = str(exc)
    return outcome


def _bad(field_name: str, message: str, fix: str) -> BadInput:
    return BadInput(f"{field_name} {message}", errors=[FieldProblem(field_name, message, fix)])


def ban_words(
    project_id: str, route: str, *, url: str = "", prefix: str = "", tag: str = "", hosts: Sequence[str] = ()
) -> tuple[list[str], str]:
    """The ban (as CLI words) removing what a purge names, within the project (and route when
    given), and a line saying what it removes. Bans test only `obj.*`, so the ban lurker can
    apply them to objects nobody asks for."""
    words = (
        ["obj.http.X-CF-Route", "==", route_id(project_id, route)]
        if route
        else ["obj.http.X-CF-Route", "~", "^" + regex_escape(project_id + "/")]
    )
    if url:
        host = ""
        path = url
        if "://" in url:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise _bad("url", "is not an http(s) URL", "give a path (/a/b?x=1) or https://host/a/b")
            host = parts.hostname.lower()
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            if (
                hosts
                and host not in {h.lower() for h in hosts}
                and not any(h.startswith("*.") and host.endswith(h[1:].lower()) for h in hosts)
            ):
                raise _bad("url", f"names {host}, which no cached route of this project serves", "check the host")
        if not path.startswith("/") or any(c not in _URL_SAFE for c in path):
            raise _bad(
                "url",
                "must be a path starting with / (or a whole http(s) URL) of URL characters",
                "percent-encode spaces, quotes and other characters, as the browser sends them",
            )
        words += ["&&", "obj.http.X-CF-Url", "==", path]
        if host:
            words += ["&&", "obj.http.X-CF-Host", "==", host]
        return words, f"url {url}"
    if prefix:
        return [*words, "&&", "obj.http.X-CF-Url", "~", "^" + regex_escape(prefix)], f"prefix {prefix}"
    if tag:
        return [*words, "&&", "obj.http.X-CF-Tags", "~", "," + regex_escape(tag) + ","], f"tag {tag}"
    raise _bad("url", "is missing: give one of url, prefix or tag", "name what to purge")


@dataclass
class PurgeOutcome:
    purged_on: list[str] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)  # node -> why


def _owed(session: Session, node: str) -> list[PendingPurge]:
    return list(session.scalars(select(PendingPurge).where(PendingPurge.node == node).order_by(PendingPurge.id)))


def apply_purge(
    session: Session, nodes: Sequence[CacheNode], project_id: str, words: list[str], what: str
) -> PurgeOutcome:
    """Ban on every node now; each node that does not answer owes the ban (a row), applied by
    `retry_pending` when it answers. A node that already owes bans owes this one after them."""
    outcome = PurgeOutcome()
    for node in nodes:
        if _owed(session, node.name):  # keep the order: older purges first
            session.add(PendingPurge(node=node.name, project_id=project_id, expression=words, what=what))
            outcome.pending[node.name] = "it still owes earlier purges; they are applied first when it answers"
            continue
        try:
            Admin.from_workdir(node.workdir).ban(*words)
            outcome.purged_on.append(node.name)
        except Unreachable as exc:
            session.add(
                PendingPurge(node=node.name, project_id=project_id, expression=words, what=what, error=str(exc))
            )
            outcome.pending[node.name] = str(exc)
        except VarnishError as exc:
            raise BadInput(f"the cache refused the purge ({exc})", fix="check the url, prefix or tag") from None
    session.flush()
    return outcome


def retry_pending(session: Session, nodes: Sequence[CacheNode]) -> list[str]:
    """Apply the bans nodes owe, oldest first, stopping at a node's first failure. What was
    applied, for the log."""
    applied: list[str] = []
    for node in nodes:
        for row in _owed(session, node.name):
            try:
                Admin.from_workdir(node.workdir).ban(*[str(w) for w in row.expression])
            except Unreachable as exc:
                row.attempts += 1
                row.error = str(exc)
                break
            except VarnishError as exc:  # a ban this varnishd refuses will never apply: say so, drop it
                log.warning("cache: node %s refused the owed purge %s: %s", node.name, row.what, exc)
            applied.append(f"{node.name}: {row.what}")
            session.delete(row)
    session.flush()
    return applied
