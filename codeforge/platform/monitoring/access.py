"""Who may send or read telemetry over the protocol endpoints (OTLP, Loki push, Prometheus's
query API): a platform token whose role has the permission, in a project of its
organization. The same refusals as the catalog's routes, counted and rate-limited alike."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials

from codeforge.catalog import Permission
from codeforge.catalog.errors import NotFound, PermissionDenied
from codeforge.platform.api.deps import sign_in
from codeforge.platform.core import Platform
from codeforge.platform.monitoring.runtime import Monitoring, monitoring_for

__all__ = ["Scope", "authorize"]


@dataclass(frozen=True)
class Scope:
    project_id: str
    project: str  # slug
    org_id: str
    username: str
    monitoring: Monitoring


def authorize(
    request: Request, credentials: HTTPAuthorizationCredentials | None, project: str, permission: Permission
) -> Scope:
    """Sign the request in and resolve `project`; sync (call it from a sync route, which runs in
    a worker thread)."""
    platform: Platform = request.app.state.platform
    with platform.db.session() as session:
        actor = sign_in(request, platform, credentials, session, project)
        row = actor.named_project[1] if actor.named_project else None
        if row is None:
            raise NotFound(
                f"there is no project {project!r} in organization {actor.org_slug!r}",
                fix="use a project slug from `codeforge projects list` in the endpoint's path",
            )
        if not actor.can(permission):
            raise PermissionDenied(
                f"role {actor.role.value!r} cannot {'send telemetry to' if permission is Permission.EDIT else 'read'} "
                f"project {project!r}",
                fix="use a token of a member with the developer role or above",
            )
        return Scope(row.id, row.slug, actor.org_id, actor.username, monitoring_for(platform.settings))
