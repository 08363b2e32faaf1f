"""The edge capability (docs/edge.md, docs/edge-asbuilt.md): Caddy nodes the platform runs and
configures through their admin API, the routes projects publish to them, and the traffic
through them counted into monitoring."""

from __future__ import annotations

from codeforge.platform.manifest import Background, BackgroundService, Capability, Runtime

__all__ = ["CAPABILITY"]


def _supervisor(rt: Runtime) -> BackgroundService:
    from codeforge.platform.edge.nodes import EdgeSupervisor

    return EdgeSupervisor(rt.db, rt.settings, rt.cipher)


def _traffic(rt: Runtime) -> BackgroundService:
    from codeforge.platform.edge.traffic import TrafficCounter

    return TrafficCounter(rt.db, rt.settings)


CAPABILITY = Capability(
    name="edge",
    title="Edge",
    catalog=("codeforge.catalog.edge",),
    models=("models",),
    services=("service",),
    panes=("pane",),
    background=(Background("edge nodes", _supervisor), Background("edge traffic", _traffic)),
)
