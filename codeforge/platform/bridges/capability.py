"""The bridges capability: the sessions, terminals and forwards of `codeforge bridge`
processes, visible and closable as operations (the bridge reports them and applies close
requests; it never touches the platform's database)."""

from __future__ import annotations

from collections.abc import Sequence

from codeforge.platform.manifest import Capability, CrashCleanup, Runtime

__all__ = ["CAPABILITY"]


def _forget_gone(rt: Runtime) -> Sequence[str]:
    from codeforge.platform.bridges.service import forget_gone_bridges

    return forget_gone_bridges(rt.db)


CAPABILITY = Capability(
    name="bridges",
    title="Bridges",
    catalog=("codeforge.catalog.bridges",),
    models=("models",),
    services=("service",),
    # A bridge killed without a word stops reporting: listed as stale for a day, then forgotten.
    cleanup=(CrashCleanup("gone bridges", _forget_gone, every=600.0),),
)
