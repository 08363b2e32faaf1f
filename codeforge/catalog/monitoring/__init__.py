"""Monitoring's operations (`monitoring.<verb>`), declared by part: metrics, logs, traces,
alerts, errors, dashboards (docs/monitoring.md)."""

from codeforge.catalog.monitoring import alerts, dashboards, errors, logs, metrics, project, query, traces

__all__ = ["alerts", "dashboards", "errors", "logs", "metrics", "project", "query", "traces"]
