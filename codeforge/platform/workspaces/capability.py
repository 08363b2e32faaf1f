"""Workspaces and instant environment cloning (docs/workspaces.md): workspaces on the local,
Docker and Kubernetes runtimes, snapshots, clones with their databases and ports, the warm
pool, and the crash cleanup that undoes what a killed operation half-made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from codeforge.platform.manifest import Background, BackgroundService, Capability, CrashCleanup, Runtime

if TYPE_CHECKING:
    from codeforge.platform.settings import Settings

__all__ = ["CAPABILITY"]


def _sweep(rt: Runtime) -> Sequence[str]:
    from codeforge.platform.workspaces.cleanup import sweep

    return sweep(rt)


def _reattach(rt: Runtime) -> Sequence[str]:
    from codeforge.platform.workspaces.cleanup import reattach

    return reattach(rt)


def _copy_advice(settings: Settings) -> str | None:
    # Where trees are full copies (no btrfs, reflink or overlayfs), say how to get instant clones.
    from codeforge.platform.workspaces.access import file_store

    return file_store(settings).advice


def _pool(rt: Runtime) -> BackgroundService:
    from codeforge.platform.workspaces.pool import WarmPool

    return WarmPool(rt)


CAPABILITY = Capability(
    name="workspaces",
    title="Workspaces",
    catalog=("codeforge.catalog.workspaces",),
    models=("models",),
    services=("service",),
    panes=("pane",),
    background=(Background("warm pool", _pool),),
    cleanup=(
        CrashCleanup("half-made workspace operations", _sweep, every=60.0),
        # Once, at start, after the sweep: what a previous process held in memory for the
        # workspaces still running (a Docker workspace's relays), and what their runtimes say.
        CrashCleanup("running workspaces after a restart", _reattach),
    ),
    notices=(_copy_advice,),
)
