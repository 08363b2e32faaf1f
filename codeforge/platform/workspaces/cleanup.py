"""The crash cleanup and sweeper (docs/workspaces.md, "Crash safety"), every minute: the
journal's dead intents undone step by step (lifecycle.undo_steps knows each kind), the file
store's half-made trees removed, what a runtime holds for a workspace that has no row (a
local runtime's folder and processes, a container and network) removed, and snapshots past
their retention deleted. A kind this version cannot undo keeps its intent (and says so in
the log) for a version that can."""

from __future__ import annotations

import logging

from sqlalchemy import select

from codeforge.platform.manifest import Runtime
from codeforge.platform.workspaces import snapshots
from codeforge.platform.workspaces.access import file_store, runtime_named
from codeforge.platform.workspaces.journal import Journal
from codeforge.platform.workspaces.lifecycle import undo_steps
from codeforge.platform.workspaces.models import Workspace, WorkspaceIntent
from codeforge.platform.workspaces.runtimes.base import Unavailable

__all__ = ["sweep"]

log = logging.getLogger("codeforge.workspaces")


def sweep(rt: Runtime) -> list[str]:
    undo = undo_steps(rt.db.engine, rt.settings, rt.cipher, None)
    swept = Journal(rt.db, rt.settings.resolved_instance_id).sweep(undo)
    swept += [f"half-made tree {p.name}" for p in file_store(rt.settings).sweep()]
    swept += _orphans(rt)
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
