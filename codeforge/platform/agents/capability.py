"""The agents capability: model settings per organization or project, agent runs as jobs on a
sandboxed copy of the workspace, and the review of their change sets (docs/agents.md)."""

from __future__ import annotations

from collections.abc import Sequence

from codeforge.platform.manifest import Background, BackgroundService, Capability, CrashCleanup, Runtime

__all__ = ["CAPABILITY"]


def _sweep(rt: Runtime) -> Sequence[str]:
    from codeforge.platform.agents.runs import sweep

    return sweep(rt.db, rt.settings)


def _maps(rt: Runtime) -> BackgroundService:
    from codeforge.platform.agents.runs import CodebaseMaps

    return CodebaseMaps()


CAPABILITY = Capability(
    name="agents",
    title="Agents",
    catalog=("codeforge.catalog.agents",),
    models=("models",),
    services=("service",),
    panes=("pane",),
    background=(Background("codebase maps", _maps),),
    cleanup=(CrashCleanup("agent runs a stopped process left", _sweep, every=60.0),),
    editor=("codeforge.lsp.capabilities.agents",),
)
