"""The crash cleanup (docs/workspaces.md, "Crash safety"): the journal's dead intents undone
with what each kind of thing needs. A kind this version cannot undo keeps its intent (and says
so in the log) for a version that can."""

from __future__ import annotations

from pathlib import Path

from codeforge.platform.manifest import Runtime
from codeforge.platform.workspaces.journal import Journal
from codeforge.platform.workspaces.network import PortPool

__all__ = ["sweep", "workspaces_root"]


def workspaces_root(rt: Runtime) -> Path:
    return Path(rt.settings.data_dir) / "workspaces"


def sweep(rt: Runtime) -> list[str]:
    def undo(kind: str, ref: str) -> None:
        if kind == "ports":  # ref: the workspace id
            PortPool(rt.db).release(ref)
        elif kind == "tree":  # ref: the tree's path; the store made only when there is one
            from codeforge.platform.workspaces.files import FileStore

            FileStore(workspaces_root(rt) / "files").delete(Path(ref))
        else:
            raise LookupError(f"no undo for {kind!r} in this version")

    return Journal(rt.db, rt.settings.resolved_instance_id).sweep(undo)
