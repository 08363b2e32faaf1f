"""The monitoring capability: metrics scraped and queried with PromQL, logs searched and
tailed, OTLP traces, alerts with silences and notifications, errors grouped and shown in the
editor at the failing line (docs/monitoring.md)."""

from __future__ import annotations

from codeforge.catalog.monitoring.project import MonitoringSection
from codeforge.platform.manifest import Background, BackgroundService, Capability, ProjectSection, Runtime

__all__ = ["CAPABILITY"]


def _service(rt: Runtime) -> BackgroundService:
    from codeforge.platform.monitoring.runtime import MonitoringService

    return MonitoringService(rt.settings, rt.db)


CAPABILITY = Capability(
    name="monitoring",
    title="Monitoring",
    catalog=tuple(
        f"codeforge.catalog.monitoring.{part}"
        for part in ("metrics", "query", "logs", "traces", "alerts", "errors", "dashboards")
    ),
    models=("metrics.models", "alerts.models", "dashboards.models"),
    services=(
        "metrics.service",
        "metrics.promql.service",
        "logs.service",
        "traces.service",
        "alerts.service",
        "errors.service",
        "dashboards.service",
    ),
    panes=("panes",),
    background=(Background("monitoring", _service),),
    api=("metrics.api", "logs.api", "traces.api"),
    project_section=ProjectSection(
        "monitoring", MonitoringSection, "Monitoring: how deployed paths map to the project's files.", MonitoringSection
    ),
    editor=("codeforge.lsp.capabilities.monitoring",),
)
