"""Releases (docs/deployments.md, "Releases"): immutable once made. A workspace's release is a
snapshot of its tree in the workspaces' file store (copy-on-write where the volume allows),
with the start command and the environment the workspace had then (sealed); an image's
release is its reference. Numbered v1, v2… per deployment."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from codeforge import catalog
from codeforge.catalog.errors import BadInput, Conflict, FieldProblem
from codeforge.platform.context import Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.deployments.instances import Instance, InstanceSpec
from codeforge.platform.deployments.models import Deployment, Release
from codeforge.platform.settings import Settings
from codeforge.platform.workspaces import access as ws_access

__all__ = ["delete_release_tree", "instance_spec", "make_release", "release_info", "start_command"]

D = catalog.deployments


def start_command(
    ctx: Context, data: catalog.deployments.DeployInput, spec_services: list[dict[str, Any]]
) -> list[str]:
    """The command given, or the workspace's first service that listens on a port."""
    if data.command:
        return list(data.command)
    for svc in spec_services:
        if svc.get("port") and svc.get("command"):
            return [str(a) for a in svc["command"]]
    raise BadInput(
        f"workspace {data.workspace!r} has no service with a port to take a start command from",
        errors=[FieldProblem("command", "no start command", "give the command that serves the app on $PORT")],
    )


def make_release(ctx: Context, session: Session, dep: Deployment, data: catalog.deployments.DeployInput) -> Release:
    """Snapshot the source and write the release row (in `session`, a side unit of work)."""
    number = (session.scalar(select(func.max(Release.number)).where(Release.deployment_id == dep.id)) or 0) + 1
    release = Release(
        id=_new_id(), deployment_id=dep.id, number=number, runtime=data.runtime.value, port=data.port,
        created_by=ctx.actor.username,
    )  # fmt: skip
    if data.image:
        release.source = f"image:{data.image}"
        release.image = data.image
        release.command = list(data.command)
        release.tree = ""
        release.env_sealed = ws_access.seal_env(
            ctx.cipher, ws_access.project_env(ctx.session, ctx.cipher, ctx.require_project())
        )
    else:
        ws = ws_access.get_workspace(ctx, data.workspace)
        release.source = f"workspace:{ws.name}"
        release.command = start_command(ctx, data, list((ws.spec or {}).get("services") or []))
        release.env_sealed = ws_access.seal_env(ctx.cipher, ws_access.workspace_env(ctx, ws))
        store = ws_access.file_store(ctx.settings)
        if not ws.tree or Path(ws.tree).parent != store.root / "ws" or not Path(ws.tree).is_dir():
            raise Conflict(f"workspace {ws.name!r} has no files to release", fix="delete it and create it again")
        tree = store.snapshot(Path(ws.tree).name, f"rel-{release.id}")
        release.tree = str(tree)
    session.add(release)
    try:
        session.flush()
    except BaseException:
        if release.tree:
            with contextlib.suppress(Exception):
                ws_access.file_store(ctx.settings).delete(Path(release.tree))
        raise
    return release


def _new_id() -> str:
    from codeforge.platform.db import new_id

    return new_id()


def instance_spec(settings: Settings, cipher: Cipher, release: Release, dep_settings: dict[str, Any]) -> InstanceSpec:
    return InstanceSpec(
        release_id=release.id,
        tree=release.tree,
        image=release.image,
        command=tuple(release.command),
        port=release.port,
        runtime=release.runtime,
        env=ws_access.unseal_env(cipher, release.env_sealed),
        health_path=str(dep_settings.get("health_path", "/")),
        health_timeout_s=float(dep_settings.get("health_timeout_s", 30.0)),
    )


def delete_release_tree(settings: Settings, release: Release) -> None:
    if release.tree:
        with contextlib.suppress(Exception):
            ws_access.file_store(settings).delete(Path(release.tree))


def release_info(release: Release) -> catalog.deployments.ReleaseInfo:
    return D.ReleaseInfo(
        number=release.number,
        id=release.id,
        state=release.state,
        source=release.source,
        command=list(release.command or []),
        traffic=round(release.traffic),
        instances=[
            D.InstanceInfo(id=i.id, region=i.region, address=i.address, runtime=i.runtime)
            for i in (Instance.from_json(v) for v in release.instances or [])
        ],
        error=release.error,
        created_at=release.created_at,
        created_by=release.created_by,
    )
