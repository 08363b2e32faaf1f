"""The workspaces capability's operations (docs/workspaces.md, "Operations"): thin, each
checking its input and quotas before anything is made, then calling lifecycle, snapshots,
clone or the pool."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from codeforge import catalog
from codeforge.catalog.errors import BadInput, Conflict, FieldProblem, PermissionDenied
from codeforge.platform.context import Context
from codeforge.platform.databases.paths import confine, migration_roots
from codeforge.platform.registry import implements
from codeforge.platform.workspaces import access, lifecycle, pool, snapshots
from codeforge.platform.workspaces.clone import clone as clone_workspace
from codeforge.platform.workspaces.devcontainer import find_devcontainer, load_devcontainer
from codeforge.platform.workspaces.models import Workspace, WorkspacePool, WorkspaceSnapshot
from codeforge.platform.workspaces.records import Limits, ServiceSpec, WorkspaceSpec
from codeforge.platform.workspaces.settings import workspace_settings
from codeforge.platform.workspaces.templates import Template, template, templates

__all__: list[str] = []

W = catalog.workspaces


def _runtime_name(choice: catalog.workspaces.RuntimeChoice) -> str:
    if choice is not W.RuntimeChoice.AUTO:
        return choice.value
    name = workspace_settings().runtime
    if name not in ("local", "docker", "kubernetes"):
        raise BadInput(
            f"CODEFORGE_WORKSPACES_RUNTIME is {name!r}",
            errors=[FieldProblem("runtime", "unknown default runtime", "set it to local, docker or kubernetes")],
        )
    return name


def _check_free(ctx: Context, name: str) -> None:
    project = ctx.require_project()
    if ctx.session.scalar(select(Workspace.id).where(Workspace.project_id == project.id, Workspace.name == name)):
        raise Conflict(f"project {project.slug!r} has a workspace {name!r} already", fix="choose another name")


def _check_quota(ctx: Context, limits: Limits) -> None:
    """Refused before anything is made, with the figures and the fix."""
    settings = workspace_settings()
    project = ctx.require_project()
    rows = list(ctx.session.scalars(select(Workspace).where(Workspace.project_id == project.id)))
    if len(rows) >= settings.max_per_project:
        raise PermissionDenied(
            f"quota exceeded: project {project.slug!r} has {len(rows)} workspaces (pooled ones included), "
            f"the most CODEFORGE_WORKSPACES_MAX_PER_PROJECT={settings.max_per_project} allows",
            fix="delete workspaces you no longer need, or shrink the warm pool (`workspaces pool`)",
        )
    specs = [access.spec_of(r.spec).limits for r in rows]
    for what, mine, total, cap, env in (
        ("CPUs", limits.cpus, sum(s.cpus or 0 for s in specs), settings.max_cpus_per_project, "MAX_CPUS"),
        ("MiB of memory", limits.memory_mb, sum(s.memory_mb or 0 for s in specs),
         settings.max_memory_mb_per_project, "MAX_MEMORY_MB"),
    ):  # fmt: skip
        if cap is not None and (mine is None or total + mine > cap):
            asked = "no limit" if mine is None else f"{mine:g}"
            raise PermissionDenied(
                f"quota exceeded: project {project.slug!r}'s workspaces hold {total:g} {what} and this one asks "
                f"{asked}; CODEFORGE_WORKSPACES_{env}_PER_PROJECT is {cap:g}",
                fix=f"give it a smaller limit (at most {max(cap - total, 0):g}), or stop and delete others",
            )


def _chosen_template(name: str) -> Template:
    chosen = template(name)  # NotFound naming the templates there are
    why = chosen.usable()
    if why:
        raise BadInput(why, errors=[FieldProblem("template", f"{name} cannot run here", why)])
    return chosen


# -- operations ------------------------------------------------------------------------------------


@implements(W.CREATE)
def create(ctx: Context, data: catalog.workspaces.CreateInput) -> catalog.workspaces.WorkspaceInfo:
    started = time.perf_counter()
    runtime = _runtime_name(data.runtime)
    _check_free(ctx, data.name)
    if data.devcontainer and not data.folder:
        raise BadInput(
            "devcontainer names a file in the folder, and no folder was given",
            errors=[FieldProblem("devcontainer", "needs a folder", "give folder too, or leave devcontainer empty")],
        )
    folder = None
    if data.folder:
        # The projects' folder only: the data dir (migration_roots' other root) holds the secret
        # key, the platform's database, every project's trees, runtime state and database files.
        roots = [r for r in migration_roots(ctx.settings) if r != ctx.settings.data_dir]
        folder = confine(data.folder, roots, field="folder")
        data_dir = Path(os.path.realpath(ctx.settings.data_dir))
        if folder.is_relative_to(data_dir) or data_dir.is_relative_to(folder):  # `up` run in $HOME
            raise BadInput(
                "folder is outside the folders this platform may use: it holds or is in the platform's own data",
                errors=[FieldProblem("folder", "the platform's data", "give a project's folder")],
            )
        if not folder.is_dir():
            raise BadInput(
                f"folder {data.folder} is not a folder on the platform's host",
                errors=[FieldProblem("folder", "no such folder", "give a folder under the projects' folder")],
            )
    chosen = _chosen_template(data.template) if data.template else None
    spec = chosen.spec if chosen else WorkspaceSpec()
    if folder is not None:
        found = find_devcontainer(folder, data.devcontainer or None)
        if found is not None and not Path(os.path.realpath(found)).is_relative_to(folder):
            # The platform reads it itself: a link to a file elsewhere on its host would have
            # its errors quote that file.
            raise BadInput(
                f"{found.relative_to(folder)} is a link to a file outside the folder",
                errors=[FieldProblem("devcontainer", "outside the folder", "make it a file of the folder")],
            )
        # ${localEnv:…} is the editor's machine in VS Code; here it would be the platform's
        # own environment (its secret key among it), so it reads as empty.
        spec = load_devcontainer(folder, data.devcontainer or None, local_env={}) or spec
    elif chosen is None:
        chosen = _chosen_template("empty")
    # What the caller asks wins; a devcontainer.json's hostRequirements fill what it leaves.
    asked = Limits(data.cpus, data.memory_mb, data.disk_mb)
    limits = Limits(
        asked.cpus if asked.cpus is not None else spec.limits.cpus,
        asked.memory_mb if asked.memory_mb is not None else spec.limits.memory_mb,
        asked.disk_mb if asked.disk_mb is not None else spec.limits.disk_mb,
    )
    _check_quota(ctx, limits)
    spec = replace(spec, limits=limits)
    if chosen is not None and folder is None and asked == Limits():
        row = pool.claim(ctx, chosen.name, runtime, data.name)
        if row is not None:
            info = access.workspace_info(ctx, row, from_pool=True)
            info.seconds = round(time.perf_counter() - started, 3)
            return info
    row = lifecycle.build(
        ctx,
        lifecycle.NewWorkspace(
            name=data.name,
            runtime=runtime,
            spec=spec,
            own_env={},
            tree_source=folder,
            fill_tree=chosen.lay_down if chosen else None,
            template=chosen.name if chosen else None,
        ),
        created_by=ctx.actor.username,
    )
    return access.workspace_info(ctx, row, seconds=round(time.perf_counter() - started, 3))


@implements(W.LIST)
def list_workspaces(ctx: Context, data: catalog.workspaces.ListInput) -> catalog.workspaces.WorkspaceList:
    rows = ctx.session.scalars(
        select(Workspace)
        .where(Workspace.project_id == ctx.require_project().id, Workspace.state != "pooled")
        .order_by(Workspace.name)
    )
    return W.WorkspaceList(items=[access.workspace_info(ctx, r, live=True) for r in rows])


@implements(W.SHOW)
def show(ctx: Context, data: catalog.workspaces.NameInput) -> catalog.workspaces.WorkspaceInfo:
    return access.workspace_info(ctx, access.get_workspace(ctx, data.name), disk=True, live=True)


@implements(W.START)
def start(ctx: Context, data: catalog.workspaces.NameInput) -> catalog.workspaces.WorkspaceInfo:
    row = access.get_workspace(ctx, data.name)
    if row.state in ("creating", "deleting"):
        raise Conflict(f"workspace {row.name!r} is {row.state}", fix="wait for that to finish")
    lifecycle.start(ctx, row)
    return access.workspace_info(ctx, row)


@implements(W.STOP)
def stop(ctx: Context, data: catalog.workspaces.NameInput) -> catalog.workspaces.WorkspaceInfo:
    row = access.get_workspace(ctx, data.name)
    if row.state in ("creating", "deleting"):
        raise Conflict(f"workspace {row.name!r} is {row.state}", fix="wait for that to finish")
    lifecycle.stop(ctx, row)
    return access.workspace_info(ctx, row)


@implements(W.DELETE)
def delete(ctx: Context, data: catalog.workspaces.DeleteInput) -> catalog.workspaces.WorkspaceDeleted:
    row = access.get_workspace(ctx, data.name)
    if row.state == "creating":
        raise Conflict(f"workspace {row.name!r} is being created", fix="wait for that to finish, then delete it")
    dropped = lifecycle.delete_everything(ctx, row, keep_databases=data.keep_databases)
    return W.WorkspaceDeleted(name=data.name, databases=dropped)


@implements(W.LOGS)
def logs(ctx: Context, data: catalog.workspaces.LogsInput) -> catalog.workspaces.WorkspaceLogs:
    row = access.get_workspace(ctx, data.name)
    handle = lifecycle.handle_of(row)
    if handle is None:
        return W.WorkspaceLogs(name=row.name, lines=[])
    runtime = access.runtime_named(ctx.settings, row.runtime)
    return W.WorkspaceLogs(name=row.name, lines=runtime.logs(handle, tail=data.tail, service=data.service or None))


@implements(W.SNAPSHOT)
def snapshot(ctx: Context, data: catalog.workspaces.SnapshotInput) -> catalog.workspaces.SnapshotInfo:
    row = access.get_workspace(ctx, data.name)
    snap, seconds = snapshots.take(ctx, row, data.snapshot or snapshots.next_snapshot_name(ctx, row))
    return access.snapshot_info(ctx, snap, seconds=seconds)


@implements(W.SNAPSHOTS)
def list_snapshots(ctx: Context, data: catalog.workspaces.SnapshotsInput) -> catalog.workspaces.SnapshotList:
    query = select(WorkspaceSnapshot).where(WorkspaceSnapshot.project_id == ctx.require_project().id)
    if data.name:
        query = query.where(WorkspaceSnapshot.workspace_id == access.get_workspace(ctx, data.name).id)
    rows = ctx.session.scalars(query.order_by(WorkspaceSnapshot.created_at))
    return W.SnapshotList(items=[access.snapshot_info(ctx, r) for r in rows])


@implements(W.DELETE_SNAPSHOT)
def delete_snapshot(ctx: Context, data: catalog.workspaces.SnapshotNameInput) -> catalog.workspaces.SnapshotDeleted:
    snap = access.get_snapshot(ctx, data.snapshot)
    return W.SnapshotDeleted(name=snap.name, databases=snapshots.drop(ctx, snap))


@implements(W.RESTORE)
def restore(ctx: Context, data: catalog.workspaces.RestoreInput) -> catalog.workspaces.WorkspaceInfo:
    snap = access.get_snapshot(ctx, data.snapshot)
    row: Workspace | None
    if data.name:
        row = access.get_workspace(ctx, data.name)
    else:
        row = ctx.session.get(Workspace, snap.workspace_id) if snap.workspace_id else None
        if row is None or row.state == "pooled":
            raise BadInput(
                f"the workspace snapshot {snap.name!r} was taken of is gone",
                errors=[FieldProblem("name", "needed", "name a workspace to restore into, or clone the snapshot")],
            )
    seconds = snapshots.restore(ctx, snap, row)
    return access.workspace_info(ctx, row, seconds=seconds)


@implements(W.CLONE)
def clone(ctx: Context, data: catalog.workspaces.CloneInput) -> catalog.workspaces.WorkspaceInfo:
    project = ctx.require_project()
    _check_free(ctx, data.name)
    source: Workspace | WorkspaceSnapshot | None = ctx.session.scalar(
        select(Workspace).where(
            Workspace.project_id == project.id, Workspace.name == data.source, Workspace.state != "pooled"
        )
    )
    if source is None:
        source = ctx.session.scalar(
            select(WorkspaceSnapshot).where(
                WorkspaceSnapshot.project_id == project.id, WorkspaceSnapshot.name == data.source
            )
        )
    if source is None:
        raise BadInput(
            f"project {project.slug!r} has no workspace or snapshot {data.source!r}",
            errors=[FieldProblem("source", "not found", "name a workspace (`workspaces list`) or a snapshot")],
        )
    limits = access.spec_of(source.spec if isinstance(source, Workspace) else source.contents.get("spec") or {})
    _check_quota(ctx, limits.limits)
    row, seconds, notes = clone_workspace(ctx, source, data.name)
    return access.workspace_info(ctx, row, seconds=seconds, notes=notes)


@implements(W.TEMPLATES)
def list_templates(ctx: Context, data: catalog.workspaces.TemplatesInput) -> catalog.workspaces.TemplateList:
    project = ctx.require_project()
    sizes = {
        p.template: p.size
        for p in ctx.session.scalars(select(WorkspacePool).where(WorkspacePool.project_id == project.id))
    }
    counted = ctx.session.execute(
        select(Workspace.template, func.count())
        .where(Workspace.project_id == project.id, Workspace.state == "pooled")
        .group_by(Workspace.template)
    )
    ready = {str(name): int(n) for name, n in counted}
    items = []
    for t in templates():
        why = t.usable()
        items.append(
            W.TemplateInfo(
                name=t.name,
                title=t.description,
                services=[s.name for s in t.spec.services],
                usable=why is None,
                why_not=why or "",
                pool_size=sizes.get(t.name, 0),
                pool_ready=int(ready.get(t.name, 0)),
            )
        )
    return W.TemplateList(items=items)


@implements(W.POOL)
def size_pool(ctx: Context, data: catalog.workspaces.PoolInput) -> catalog.workspaces.TemplateInfo:
    project = ctx.require_project()
    chosen = _chosen_template(data.template)
    runtime = _runtime_name(data.runtime)
    access.runtime_named(ctx.settings, runtime)  # Unavailable now, not in the background later
    have = ctx.session.scalar(select(func.count()).select_from(Workspace).where(Workspace.project_id == project.id))
    others = int(have or 0) - int(
        ctx.session.scalar(
            select(func.count())
            .select_from(Workspace)
            .where(Workspace.project_id == project.id, Workspace.template == chosen.name, Workspace.state == "pooled")
        )
        or 0
    )
    cap = workspace_settings().max_per_project
    if others + data.size > cap:
        raise PermissionDenied(
            f"quota exceeded: a pool of {data.size} beside the project's {others} workspaces passes "
            f"CODEFORGE_WORKSPACES_MAX_PER_PROJECT={cap}",
            fix=f"ask for at most {max(cap - others, 0)}",
        )
    with access.Side.of(ctx).session() as s:
        row = s.get(WorkspacePool, (project.id, chosen.name))
        if row is None:
            s.add(
                WorkspacePool(
                    project_id=project.id, template=chosen.name, runtime=runtime, size=data.size,
                    created_by=ctx.actor.username,
                )
            )  # fmt: skip
        else:
            row.size, row.runtime = data.size, runtime
    return W.TemplateInfo(
        name=chosen.name,
        title=chosen.description,
        services=[s.name for s in chosen.spec.services],
        usable=True,
        pool_size=data.size,
        pool_ready=pool.ready_count(ctx, chosen.name),
    )


@implements(W.CONNECT)
def connect(ctx: Context, data: catalog.workspaces.NameInput) -> catalog.workspaces.Connection:
    row = access.get_workspace(ctx, data.name)
    if row.state != "running":
        raise Conflict(
            f"workspace {row.name!r} is {row.state}", fix=f"start it first: `codeforge workspaces start {row.name}`"
        )
    url = bridge_url(ctx, row)
    return W.Connection(name=row.name, bridge_url=url, bridge_id=f"workspace-{row.id}", folder=row.tree)


def bridge_url(ctx: Context, row: Workspace) -> str:
    """The workspace's bridge, started on first use (a clone or a pooled workspace does not
    pay for one nobody connects to)."""
    if row.runtime not in ("local", "docker"):
        raise BadInput(
            f"connecting to a {row.runtime} workspace's bridge is not built yet (its bridge would need to reach the "
            "platform from inside the container or pod)",
            errors=[
                FieldProblem("name", f"a {row.runtime} workspace", "use a local workspace to connect from editors")
            ],
        )
    return lifecycle.ensure_bridge(ctx, row, _bridge_service)


def _bridge_service(ctx: Context, row: Workspace) -> ServiceSpec:
    project = ctx.require_project()
    # In a container: the tree is at /workspace, the engine's published port (or the runtime's
    # relay) reaches the container's address, and the runtime points --url's loopback at a relay.
    tree, host = ("/workspace", "0.0.0.0") if row.runtime == "docker" else (str(Path(row.tree)), "127.0.0.1")
    command = (
        sys.executable, "-m", "codeforge", "bridge", tree, "--project", project.slug,
        "--host", host, "--port", "$PORT", "--url", ctx.settings.resolved_public_url,
        "--id", f"workspace-{row.id}", "--log-level", "WARNING",
    )  # fmt: skip
    return ServiceSpec(name="bridge", command=command, port=8471)
