"""Snapshots and restore (docs/workspaces.md, "Snapshots and clone"): a workspace's files
(the file store's copy-on-write snapshot), its own variables (sealed), a branch of each
database it points at, its ports, its services' definitions and, where the kernel allows,
its running processes (CRIU); the snapshot says what it could not capture. Restore puts the
files, variables and databases back and starts the services."""

from __future__ import annotations

import logging
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from codeforge.catalog.errors import BadInput, Conflict, FieldProblem
from codeforge.platform.context import Context
from codeforge.platform.db import new_id, utcnow
from codeforge.platform.settings import Settings
from codeforge.platform.workspaces import access, lifecycle
from codeforge.platform.workspaces.databases_link import branch_name, make_branch, taken_names, used_databases
from codeforge.platform.workspaces.journal import Undo
from codeforge.platform.workspaces.models import Workspace, WorkspaceSnapshot
from codeforge.platform.workspaces.network import PortPool
from codeforge.platform.workspaces.settings import workspace_settings

__all__ = ["beyond_retention", "drop", "drop_with", "next_snapshot_name", "restore", "take"]

log = logging.getLogger("codeforge.workspaces")


def next_snapshot_name(ctx: Context, ws: Workspace) -> str:
    names = set(
        ctx.session.scalars(select(WorkspaceSnapshot.name).where(WorkspaceSnapshot.project_id == ws.project_id))
    )
    n = 1
    while f"{ws.name}-{n}" in names:
        n += 1
    return f"{ws.name}-{n}"[:30] if len(f"{ws.name}-{n}") <= 30 else f"{ws.name[: 29 - len(str(n))]}-{n}"


def take(ctx: Context, ws: Workspace, name: str) -> tuple[WorkspaceSnapshot, float]:
    """Capture `ws` as snapshot `name`, all or nothing; the row and the seconds it took."""
    project = ctx.require_project()
    if ws.state not in ("running", "stopped"):
        raise Conflict(f"workspace {ws.name!r} is {ws.state}", fix="snapshot it once it is running or stopped")
    if ctx.session.scalar(
        select(WorkspaceSnapshot.id).where(WorkspaceSnapshot.project_id == project.id, WorkspaceSnapshot.name == name)
    ):
        raise Conflict(f"project {project.slug!r} has a snapshot {name!r} already", fix="choose another name")
    started = time.perf_counter()
    store = access.file_store(ctx.settings)
    book, undo = lifecycle.journal(ctx)
    snap_id = new_id()
    own_env = access.unseal_env(ctx.cipher, ws.env_sealed)
    env = access.workspace_env(ctx, ws)
    missing: list[str] = []
    with book.intent("workspaces.snapshot", project.id, undo) as intent:
        access.progress(ctx, 0.1, "capturing its files")
        intent.making("tree", str(store.snapshot_path(snap_id)))
        tree = store.snapshot(Path(ws.tree).name, snap_id) if _is_store_tree(store, ws) else None
        if tree is None:
            raise Conflict(f"workspace {ws.name!r} has no files to snapshot", fix="delete it and create it again")
        branches: dict[str, str] = {}
        taken = taken_names(ctx)
        for var, database in used_databases(ctx, env).items():
            access.progress(ctx, 0.4, f"branching database {database}")
            branch = branch_name(f"s-{snap_id[:8]}", database, taken)
            taken.add(branch)
            intent.making("branch", f"{project.id}:{branch}")
            make_branch(ctx, database, branch)
            branches[var] = branch
        processes = _checkpoint(ctx, ws, snap_id)
        if processes != "checkpointed":
            missing.append(f"running processes: {processes}; its services start again from their commands")
        contents: dict[str, Any] = {
            "files": True,
            "env": True,
            "env_sealed": access.seal_env(ctx.cipher, own_env),
            "databases": branches,
            "network": [p.__dict__ for p in PortPool(access.Side.of(ctx)).held(ws.id) if p.service != "bridge"],
            "spec": ws.spec,
            "runtime": ws.runtime,
            "template": ws.template,
            "processes": processes,
            "missing": missing,
        }
        intent.making("snapshot-row", snap_id)
        with access.Side.of(ctx).session() as s:
            s.add(
                WorkspaceSnapshot(
                    id=snap_id,
                    project_id=project.id,
                    workspace_id=ws.id,
                    name=name,
                    tree=str(tree),
                    contents=contents,
                    created_by=ctx.actor.username,
                )
            )
    _retain(ctx, ws)
    with access.Side.of(ctx).session() as s:
        row = s.get(WorkspaceSnapshot, snap_id)
        assert row is not None
        return row, round(time.perf_counter() - started, 3)


def _is_store_tree(store: Any, ws: Workspace) -> bool:
    return bool(ws.tree) and Path(ws.tree).parent == store.root / "ws" and Path(ws.tree).is_dir()


def _checkpoint(ctx: Context, ws: Workspace, snap_id: str) -> str:
    handle = lifecycle.handle_of(ws)
    if handle is None or ws.state != "running":
        return "not running"
    into = access.workspaces_root(ctx.settings) / "checkpoints" / snap_id
    try:
        return access.runtime_named(ctx.settings, ws.runtime).checkpoint(handle, into)
    except Exception as exc:  # a checkpoint is a bonus: its failure is said, never fatal
        return f"checkpoint failed: {exc}"


def drop(ctx: Context, snap: WorkspaceSnapshot) -> list[str]:
    """Delete a snapshot: its tree, its database branches, its checkpoint, its row."""
    side = access.Side.of(ctx)
    return drop_with(lifecycle.undo_steps(side.bind, ctx.settings, ctx.cipher, ctx.actor), ctx.settings, snap)


def drop_with(undo: Undo, settings: Settings, snap: WorkspaceSnapshot) -> list[str]:
    branches = sorted(set((snap.contents or {}).get("databases", {}).values()))
    for branch in branches:
        undo("branch", f"{snap.project_id}:{branch}")
    undo("tree", snap.tree)
    shutil.rmtree(access.workspaces_root(settings) / "checkpoints" / snap.id, ignore_errors=True)
    undo("snapshot-row", snap.id)
    return branches


def beyond_retention(session: Session, now: datetime, workspace_id: str | None = None) -> list[WorkspaceSnapshot]:
    """Snapshots past `snapshots_keep_last` of their workspace or older than
    `snapshots_max_age_days` (a snapshot whose workspace is gone: by age only)."""
    settings = workspace_settings()
    query = select(WorkspaceSnapshot).order_by(WorkspaceSnapshot.created_at.desc())
    if workspace_id is not None:
        query = query.where(WorkspaceSnapshot.workspace_id == workspace_id)
    seen: dict[str | None, int] = {}
    old: list[WorkspaceSnapshot] = []
    max_age = timedelta(days=settings.snapshots_max_age_days) if settings.snapshots_max_age_days else None
    for snap in session.scalars(query):
        rank = seen[snap.workspace_id] = seen.get(snap.workspace_id, 0) + 1
        aged = max_age is not None and _aware(snap.created_at) < now - max_age
        if aged or (snap.workspace_id is not None and rank > settings.snapshots_keep_last):
            old.append(snap)
    return old


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _retain(ctx: Context, ws: Workspace) -> None:
    with access.Side.of(ctx).session() as s:
        old = beyond_retention(s, utcnow(), ws.id)
    for snap in old:
        try:
            drop(ctx, snap)
        except Exception:
            log.exception("could not delete an old snapshot", extra={"snapshot": snap.name})


def restore(ctx: Context, snap: WorkspaceSnapshot, ws: Workspace) -> float:
    """Put `snap` back into `ws`: its files, own variables and databases as captured, then its
    services started. The new tree and branches are made first (under an intent); only then
    is the old state let go, so a failure leaves the workspace as it was."""
    project = ctx.require_project()
    if ws.state in ("creating", "deleting", "pooled"):
        raise Conflict(f"workspace {ws.name!r} is {ws.state}", fix="wait until it is running or stopped")
    contents = snap.contents or {}
    if contents.get("runtime") and contents["runtime"] != ws.runtime:
        raise BadInput(
            f"snapshot {snap.name!r} is of a {contents['runtime']} workspace and {ws.name!r} runs on {ws.runtime}",
            errors=[FieldProblem("name", "another runtime", "clone the snapshot into a new workspace instead")],
        )
    started = time.perf_counter()
    store = access.file_store(ctx.settings)
    book, undo = lifecycle.journal(ctx)
    tree_id = new_id()
    own_env = access.unseal_env(ctx.cipher, contents.get("env_sealed", ""))
    new_databases: dict[str, str] = {}
    with book.intent("workspaces.restore", project.id, undo) as intent:
        access.progress(ctx, 0.1, "putting its files back")
        intent.making("tree", str(store.tree(tree_id)))
        tree = store.clone(Path(snap.tree), tree_id)
        taken = taken_names(ctx)
        for var, branch in sorted((contents.get("databases") or {}).items()):
            access.progress(ctx, 0.4, f"putting database {var} back")
            name = branch_name(ws.name, branch.split("-", 2)[-1], taken)
            taken.add(name)
            intent.making("branch", f"{project.id}:{name}")
            own_env[var] = make_branch(ctx, branch, name)
            new_databases[var] = name
        old_tree, old_databases = ws.tree, dict(ws.databases)
        lifecycle.stop(ctx, ws)
        handle = lifecycle.handle_of(ws)
        if handle is not None:  # the runtime knows the tree it was made with: made again at start
            access.runtime_named(ctx.settings, ws.runtime).delete(handle)
        with access.Side.of(ctx).session() as s:
            fresh = s.get(Workspace, ws.id)
            assert fresh is not None
            fresh.tree, fresh.handle, fresh.databases = str(tree), None, new_databases
            fresh.env_sealed = access.seal_env(ctx.cipher, own_env)
            fresh.spec = contents.get("spec") or fresh.spec
            access.mirror(
                ws, tree=fresh.tree, handle=None, databases=new_databases, env_sealed=fresh.env_sealed,
                spec=fresh.spec,
            )  # fmt: skip
    side = access.Side.of(ctx)
    let_go = lifecycle.undo_steps(side.bind, ctx.settings, ctx.cipher, ctx.actor)
    for step in [("tree", old_tree)] + [("branch", f"{project.id}:{b}") for b in sorted(set(old_databases.values()))]:
        try:
            let_go(*step)
        except Exception:
            log.exception("could not remove what a restore replaced", extra={"step": step})
    _match_ports(ctx, ws)
    access.progress(ctx, 0.8, "starting its services")
    lifecycle.start(ctx, ws)
    return round(time.perf_counter() - started, 3)


def _match_ports(ctx: Context, ws: Workspace) -> None:
    """Host ports for the restored spec: a snapshot of another workspace may name services the
    workspace has no port for (they would listen on their inside port, outside the range) and
    lack some it has (let go; the bridge's is kept)."""
    pool = access.port_pool(ctx)
    held = pool.held(ws.id)
    wanted = lifecycle.wanted_ports(access.spec_of(ws.spec))
    have = {(p.service, p.inside) for p in held}
    pool.release(ws.id, [p.host for p in held if p.service != "bridge" and (p.service, p.inside) not in wanted])
    pool.allocate(ws.id, [w for w in wanted if w not in have])
