"""Bridge sessions, terminals and forwards: checked on attach, reported by the bridges,
listed and closed by people.

The platform never reaches into a bridge: a bridge reports what it holds every few seconds
and takes the close requests waiting for it in the answer. A close therefore lands within one
report interval, and a bridge that stops reporting shows as `stale` rather than vanishing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import bindparam, delete, select

from codeforge import catalog
from codeforge.catalog import Permission
from codeforge.catalog.errors import NotFound, PermissionDenied
from codeforge.platform.auth.models import Project
from codeforge.platform.bridges.models import BridgeCloseRequest, BridgeReport
from codeforge.platform.context import Context
from codeforge.platform.db import Database, new_id, upsert, utcnow
from codeforge.platform.registry import implements

__all__ = ["FORGET_AFTER", "STALE_AFTER", "forget_gone_bridges"]

# A bridge reports every 2 s while it holds sessions: fifteen missed reports mean it is gone
# (killed, host down, network cut) and what it reported may no longer exist.
STALE_AFTER = timedelta(seconds=30)
# A bridge silent this long is forgotten, with its waiting close requests.
FORGET_AFTER = timedelta(days=1)

_BRIDGES = (
    select(BridgeReport)
    .where(BridgeReport.project_id == bindparam("project_id"))
    .order_by(BridgeReport.last_seen.desc(), BridgeReport.bridge)
)
_ONE_BRIDGE = select(BridgeReport).where(
    BridgeReport.project_id == bindparam("project_id"), BridgeReport.bridge == bindparam("bridge")
)
_PENDING = select(BridgeCloseRequest).where(BridgeCloseRequest.project_id == bindparam("project_id"))
_PENDING_FOR = _PENDING.where(BridgeCloseRequest.bridge == bindparam("bridge")).order_by(
    BridgeCloseRequest.requested_at
)
_REPORT_KEY = ("project_id", "bridge")
_CLOSE_KEY = ("project_id", "bridge", "kind", "target_id")
_REPORT_UPDATED = ("url", "workspace", "reported_by", "last_seen", "sessions")


def _public_url(url: str) -> str:
    """The bridge's address as everyone may see it: no user, password, query or fragment,
    where a careless setup could have put a token (editors authenticate with a header)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@implements(catalog.bridges.ATTACH)
def attach(ctx: Context, data: catalog.bridges.AttachInput) -> catalog.bridges.Attached:
    """The dispatcher has already refused a bad token (401), a project outside the caller's
    organization (404, as for a missing one) and a role without `view` (403); a role
    without `edit` opens only the read-only channels."""
    project = ctx.require_project()
    if data.channel not in catalog.bridges.READ_ONLY_CHANNELS and not ctx.actor.can(Permission.EDIT):
        only = " and ".join(sorted(catalog.bridges.READ_ONLY_CHANNELS))
        raise PermissionDenied(
            f"a {ctx.actor.role.value} has no access to the bridge's {data.channel} channel (it needs edit; "
            f"a viewer opens only {only})",
            fix="ask an admin for the developer role, or join a collaboration session as a guest",
        )
    report = ctx.session.scalar(_ONE_BRIDGE, {"project_id": project.id, "bridge": data.bridge})
    for session in report.sessions if report is not None else ():
        # A session id is not a secret (it is in URLs and lists): resuming one must not let
        # another member into its terminals. The bridge checks too, before its next report.
        if session.get("id") == data.session and session.get("username") != ctx.actor.username:
            raise PermissionDenied(
                f"session {data.session!r} belongs to another member",
                fix="start a new session: run `codeforge connect` again without reusing a session id",
            )
    actor = ctx.actor
    return catalog.bridges.Attached(username=actor.username, role=actor.role.value, organization=actor.org_slug)


@implements(catalog.bridges.REPORT)
def report(ctx: Context, data: catalog.bridges.ReportInput) -> catalog.bridges.ReportResult:
    """Replaces the bridge's snapshot in one upsert and hands over (and forgets) the close
    requests waiting for it: each is delivered once."""
    project = ctx.require_project()
    ctx.session.flush()
    row = {
        "id": new_id(),
        "project_id": project.id,
        "bridge": data.bridge,
        "url": _public_url(data.url),
        "workspace": data.workspace,
        "reported_by": ctx.actor.username,
        "last_seen": utcnow(),
        "sessions": [s.model_dump(mode="json") for s in data.sessions],
    }
    ctx.session.execute(upsert(ctx.session, BridgeReport, key=_REPORT_KEY, update=_REPORT_UPDATED), [row])
    pending = list(ctx.session.scalars(_PENDING_FOR, {"project_id": project.id, "bridge": data.bridge}))
    if pending:
        # By id: a request made while this report runs stays for the next one.
        ctx.session.execute(delete(BridgeCloseRequest).where(BridgeCloseRequest.id.in_([p.id for p in pending])))
    return catalog.bridges.ReportResult(
        close=[catalog.bridges.CloseRequest(kind=p.kind, id=p.target_id) for p in pending]
    )


def _resources(session: dict[str, Any], kind: str, closing: set[tuple[str, str]]) -> list[catalog.bridges.Resource]:
    return [
        catalog.bridges.Resource(id=r["id"], label=r.get("label", ""), closing=(kind, r["id"]) in closing)
        for r in session.get("resources", ())
        if r.get("kind") == kind
    ]


@implements(catalog.bridges.LIST)
def list_sessions(ctx: Context, data: catalog.bridges.BridgeListInput) -> catalog.bridges.BridgeList:
    project = ctx.require_project()
    now = utcnow()
    closing: dict[str, set[tuple[str, str]]] = {}
    for request in ctx.session.scalars(_PENDING, {"project_id": project.id}):
        closing.setdefault(request.bridge, set()).add((request.kind, request.target_id))
    items: list[catalog.bridges.BridgeSession] = []
    bridges: list[catalog.bridges.BridgeInfo] = []
    for report in ctx.session.scalars(_BRIDGES, {"project_id": project.id}):
        stale = now - report.last_seen > STALE_AFTER
        waiting = closing.get(report.bridge, set())
        bridges.append(
            catalog.bridges.BridgeInfo(
                id=report.bridge,
                url=report.url,
                workspace=report.workspace,
                last_seen=report.last_seen,
                state="stale" if stale else "live",
            )
        )
        for s in sorted(report.sessions, key=lambda s: str(s.get("opened_at", ""))):
            items.append(
                catalog.bridges.BridgeSession(
                    id=s["id"],
                    bridge=report.bridge,
                    username=s["username"],
                    state="stale" if stale else s["state"],
                    opened_at=_aware(datetime.fromisoformat(s["opened_at"])),
                    last_seen=report.last_seen,
                    channels=list(s.get("channels", ())),
                    terminals=_resources(s, "terminal", waiting),
                    forwards=_resources(s, "forward", waiting),
                    debug=_resources(s, "debug", waiting),
                    closing=("session", s["id"]) in waiting,
                )
            )
    return catalog.bridges.BridgeList(items=items, bridges=bridges)


@dataclass(frozen=True)
class _Found:
    bridge: str
    owner: str


def _find(ctx: Context, project: Project, kind: str, target: str) -> _Found:
    """Where `target` is, on the most recently seen bridge that reports it."""
    for report in ctx.session.scalars(_BRIDGES, {"project_id": project.id}):
        for s in report.sessions:
            if kind == "session" and s.get("id") == target:
                return _Found(report.bridge, s["username"])
            if kind != "session" and any(
                r.get("kind") == kind and r.get("id") == target for r in s.get("resources", ())
            ):
                return _Found(report.bridge, s["username"])
    raise NotFound(
        f"project {project.slug!r} has no bridge {kind} {target!r}",
        fix=f"list the sessions, terminals and forwards with `codeforge bridges list --project {project.slug}`",
    )


@implements(catalog.bridges.CLOSE)
def close(ctx: Context, data: catalog.bridges.CloseInput) -> catalog.bridges.CloseResult:
    project = ctx.require_project()
    found = _find(ctx, project, data.kind, data.id)
    if found.owner != ctx.actor.username and not ctx.actor.can(Permission.MANAGE):
        raise PermissionDenied(
            f"this {data.kind} belongs to {found.owner!r}; closing another member's needs 'manage'",
            fix=f"ask {found.owner!r} or an admin of organization {ctx.actor.org_slug!r} to close it",
        )
    request = {
        "id": new_id(),
        "project_id": project.id,
        "bridge": found.bridge,
        "kind": data.kind,
        "target_id": data.id,
        "requested_by": ctx.actor.username,
        "requested_at": utcnow(),
    }
    # Asking twice, or two people at once, leaves one request (and no 409).
    ctx.session.flush()
    ctx.session.execute(upsert(ctx.session, BridgeCloseRequest, key=_CLOSE_KEY, update=()), [request])
    return catalog.bridges.CloseResult(kind=data.kind, id=data.id, bridge=found.bridge, requested=True)


def forget_gone_bridges(db: Database) -> list[str]:
    """Bridges silent for FORGET_AFTER, with their close requests (the crash cleanup)."""
    cutoff = utcnow() - FORGET_AFTER
    with db.session() as session:
        gone = list(session.scalars(select(BridgeReport).where(BridgeReport.last_seen < cutoff)))
        for report in gone:
            session.execute(
                delete(BridgeCloseRequest).where(
                    BridgeCloseRequest.project_id == report.project_id, BridgeCloseRequest.bridge == report.bridge
                )
            )
            session.delete(report)
    return [f"bridge {r.bridge!r} (last seen {r.last_seen.isoformat()})" for r in gone]
