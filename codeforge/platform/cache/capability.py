"""The cache capability (docs/cache.md): Varnish on every edge node, its VCL generated from
rules per route, purges by URL, prefix or tag on every node, hit ratio per route."""

from __future__ import annotations

from collections.abc import Sequence

from codeforge.platform.manifest import Background, BackgroundService, Capability, CrashCleanup, Runtime

__all__ = ["CAPABILITY"]


def _supervisor(rt: Runtime) -> BackgroundService:
    from codeforge.platform.cache.supervisor import CacheSupervisor

    return CacheSupervisor(rt.db, rt.settings)


def _stale(rt: Runtime) -> Sequence[str]:
    # A killed platform leaves its varnishd and varnishncsa running; the supervisor starts
    # fresh ones, so the old ones go (at start only: later, they are a live supervisor's).
    from pathlib import Path

    from codeforge.platform.cache.varnish import kill_stale

    root = Path(rt.settings.data_dir) / "cache" / "nodes"
    ended: list[str] = []
    if root.is_dir():
        for workdir in sorted(root.iterdir()):
            ended += kill_stale(workdir)
    return ended


CAPABILITY = Capability(
    name="cache",
    title="Cache",
    catalog=("codeforge.catalog.cache",),
    models=("models",),
    services=("service",),
    panes=("pane",),
    background=(Background("cache supervisor", _supervisor),),
    cleanup=(CrashCleanup("varnishd left by a killed platform", _stale),),
)
