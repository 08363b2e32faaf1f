"""The crash cleanup and sweeper (docs/workspaces.md, "Crash safety"), every minute: the
journal's dead intents undone step by step (lifecycle.undo_steps knows each kind), the file
store's half-made trees removed, running workspaces over their disk limit stopped, what a runtime holds for a workspace that has no row (a
local runtime's folder and processes, a container and network) removed, and snapshots past
their retention deleted. A kind this version cannot undo keeps its intent (and says so in
the log) for a version that can."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from codeforge.platform.manifest import Runtime
from codeforge.platform.workspaces import snapshots
from codeforge.platform.workspaces.access import file_store, runtime_named
from codeforge.platform.workspaces.journal import Journal
from codeforge.platform.workspaces.lifecycle import undo_steps
from codeforge.platform.workspaces.models import Workspace, WorkspaceIntent
from codeforge.platform.workspaces.records import RuntimeHandle
from codeforge.platform.workspaces.runtimes.base import Unavailable

__all__ = ["over_disk_limit", "sweep"]

log = logging.getLogger("codeforge.workspaces")


def sweep(rt: Runtime) -> list[str]:
    undo = undo_steps(rt.db.engine, rt.settings, rt.cipher, None)
    swept = Journal(rt.db, rt.settings.resolved_instance_id).sweep(undo)
    swept += [f"half-made tree {p.name}" for p in file_store(rt.settings).sweep()]
    swept += _orphans(rt)
    swept += over_disk_limit(rt)
    return swept + _past_retention(rt)


def _orphans(rt: Runtime) -> list[str]:
    """Runtime state of workspaces with no row. A workspace's row is its operation's first
    step and its last to go, so no live operation owns such state."""
    removed = []
    with rt.db.session() as session:
        known = set(session.scalars(select(Workspace.id)))
    for name in ("local", "docker"):
        try:
            runtime = runtime_named(rt.settings, name)
            handles = runtime.owned()
        except Unavailable:
            continue  # no engine here: nothing of it to sweep
        except Exception:
            log.exception("could not list what the %s runtime holds", name)
            continue
        for handle in handles:
            if handle.ref not in known:
                runtime.delete(handle)
                removed.append(f"{name} runtime state of gone workspace {handle.ref}")
    return removed


def over_disk_limit(rt: Runtime) -> list[str]:
    """Running workspaces whose files outgrew their disk limit are stopped, the figures in
    their error (a cgroup limits CPU and memory; a tree's size is only known by measuring)."""
    with rt.db.session() as session:
        rows = [
            (r.id, r.name, r.runtime, r.tree, r.handle, r.spec["limits"]["disk_mb"])
            for r in session.scalars(select(Workspace).where(Workspace.state == "running"))
            if (r.spec.get("limits") or {}).get("disk_mb") and r.tree and r.handle
        ]
    stopped = []
    store = file_store(rt.settings)
    for ws_id, name, runtime_name, tree, handle, limit in rows:
        try:
            used = store.usage(Path(tree))
            if used <= limit * 1024 * 1024:
                continue
            runtime_named(rt.settings, runtime_name).stop(RuntimeHandle.from_json(handle))
        except Exception:
            log.exception("could not check a workspace's disk limit", extra={"workspace": ws_id})
            continue
        error = (
            f"stopped: its files take {used / 1048576:.1f} MiB, over its disk limit of {limit} MiB; "
            "delete files in its folder (they are kept) and start it again"
        )
        with rt.db.session() as session:
            row = session.get(Workspace, ws_id)
            if row is not None:
                row.state, row.error = "stopped", error
        stopped.append(f"workspace {name} over its disk limit")
    return stopped


def _past_retention(rt: Runtime) -> list[str]:
    with rt.db.session() as session:
        if session.scalar(select(WorkspaceIntent.id).limit(1)) is not None:
            return []  # an operation under way may be cloning or restoring one of them
        old = snapshots.beyond_retention(session, snapshots.utcnow())
    undo = undo_steps(rt.db.engine, rt.settings, rt.cipher, None)
    removed = []
    for snap in old:
        try:
            snapshots.drop_with(undo, rt.settings, snap)
            removed.append(f"snapshot {snap.name} past its retention")
        except Exception:
            log.exception("could not delete an old snapshot", extra={"snapshot": snap.name})
    return removed
