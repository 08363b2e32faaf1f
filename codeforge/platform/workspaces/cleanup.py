"""The crash cleanup and sweeper (docs/workspaces.md, "Crash safety"), every minute: the
journal's dead intents undone step by step (lifecycle.undo_steps knows each kind), the file
store's half-made trees removed, running workspaces over their disk limit stopped, what a runtime holds for a workspace that has no row (a
local runtime's folder and processes, a container and network) removed, and snapshots past
their retention deleted. A kind this version cannot undo keeps its intent (and says so in
the log) for a version that can."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import delete, select, update

from codeforge.platform.manifest import Runtime
from codeforge.platform.workspaces import snapshots
from codeforge.platform.workspaces.access import file_store, runtime_named, runtime_report
from codeforge.platform.workspaces.journal import Journal
from codeforge.platform.workspaces.lifecycle import undo_steps
from codeforge.platform.workspaces.models import Workspace, WorkspaceIntent, WorkspacePort
from codeforge.platform.workspaces.network import PortPool
from codeforge.platform.workspaces.records import RuntimeHandle
from codeforge.platform.workspaces.runtimes.base import Unavailable

__all__ = ["over_disk_limit", "reattach", "sweep"]

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


def reattach(rt: Runtime) -> list[str]:
    """When the platform starts (after the sweep): every workspace its runtime runs gets back
    what the previous process held for it in memory only (a Docker workspace's relays into
    the host's loopback and to its bridge: `WorkspaceRuntime.reattach`), and every one whose
    runtime says it is gone or stopped is recorded so, the reason in its error (a pooled one
    is removed: the pool makes another). Each runtime acts on its own instance's workspaces
    only: another replica's container answers "unknown" and is left to that replica, and a
    port another process already relays is logged, not taken. Idempotent."""
    with rt.db.session() as session:
        rows = [
            (r.id, r.name, r.runtime, r.state, RuntimeHandle.from_json(r.handle))
            for r in session.scalars(select(Workspace).where(Workspace.state.in_(("running", "pooled"))))
            if r.handle
        ]
    done: list[str] = []
    unavailable: set[str] = set()
    for ws_id, name, runtime_name, state, handle in rows:
        if runtime_name in unavailable:
            continue
        try:
            runtime = runtime_named(rt.settings, runtime_name)
        except Unavailable as exc:
            unavailable.add(runtime_name)
            log.warning("cannot reattach %s workspaces: %s", runtime_name, exc.message)
            continue
        try:
            seen = runtime.state(handle)
            if seen == "running":
                done += [f"workspace {name}: {made}" for made in runtime.reattach(handle, PortPool(rt.db).held(ws_id))]
            elif seen in ("gone", "stopped"):
                done += _record(rt, ws_id, name, runtime_name, state, handle, seen)
        except Exception:
            log.exception("could not reattach a workspace after the restart", extra={"workspace": ws_id})
    return done


def _record(rt: Runtime, ws_id: str, name: str, runtime_name: str, state: str, handle: RuntimeHandle,
            seen: str) -> list[str]:  # fmt: skip
    if state == "pooled":  # nobody's yet: removed, and the pool makes another
        undo = undo_steps(rt.db.engine, rt.settings, rt.cipher, None)
        with rt.db.session() as session:
            row = session.get(Workspace, ws_id)
            tree = row.tree if row is not None and row.state == "pooled" else None
        if tree is None:
            return []
        undo("runtime", f"{runtime_name}:{ws_id}")
        undo("tree", tree)
        undo("ports", ws_id)
        with rt.db.session() as session:
            session.execute(delete(WorkspacePort).where(WorkspacePort.workspace_id == ws_id))
            session.execute(delete(Workspace).where(Workspace.id == ws_id, Workspace.state == "pooled"))
        return [f"pooled workspace {name}: its {runtime_name} runtime says {seen}; removed"]
    report = runtime_report(runtime_name, state, seen, at_start=True)
    if report is None:
        return []
    with rt.db.session() as session:  # only if no operation changed it meanwhile
        changed = session.execute(
            update(Workspace)
            .where(Workspace.id == ws_id, Workspace.state == state)
            .values(state=report[0], error=report[1])
        )
    return [f"workspace {name}: {seen} ({report[1]})"] if getattr(changed, "rowcount", 0) else []


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
