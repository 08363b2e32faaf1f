"""Workspaces and instant environment cloning (docs/workspaces.md). Built so far: the state
(models), the journal whose crash cleanup undoes half-made operations, port allocation, the
file store, the devcontainer reader and the runtimes; the operations come next."""

from __future__ import annotations

from collections.abc import Sequence

from codeforge.platform.manifest import Capability, CrashCleanup, Runtime

__all__ = ["CAPABILITY"]


def _sweep(rt: Runtime) -> Sequence[str]:
    from codeforge.platform.workspaces.cleanup import sweep

    return sweep(rt)


CAPABILITY = Capability(
    name="workspaces",
    title="Workspaces",
    models=("models",),
    cleanup=(CrashCleanup("half-made workspace operations", _sweep, every=60.0),),
)
