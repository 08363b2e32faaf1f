"""The crash cleanup (docs/workspaces.md, "Crash safety"): the journal's dead intents undone
step by step (lifecycle.undo_steps knows each kind), and the file store's half-made trees
removed. A kind this version cannot undo keeps its intent (and says so in the log) for a
version that can."""

from __future__ import annotations

from codeforge.platform.manifest import Runtime
from codeforge.platform.workspaces.access import file_store
from codeforge.platform.workspaces.journal import Journal
from codeforge.platform.workspaces.lifecycle import undo_steps

__all__ = ["sweep"]


def sweep(rt: Runtime) -> list[str]:
    undo = undo_steps(rt.db.engine, rt.settings, rt.cipher, None)
    swept = Journal(rt.db, rt.settings.resolved_instance_id).sweep(undo)
    return swept + [f"half-made tree {p.name}" for p in file_store(rt.settings).sweep()]
