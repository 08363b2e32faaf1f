"""Monitoring's panes (docs/monitoring.md): `monitoring` (overview), `dashboard`, `logs`,
`traces`, `trace`, `alerts`, `errors`, `error`. Importing the package registers them all."""

from codeforge.platform.monitoring.panes import alerts, dashboards, errors, logs, overview, traces

__all__ = ["alerts", "dashboards", "errors", "logs", "overview", "traces"]
