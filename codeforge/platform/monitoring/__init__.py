"""Monitoring: metrics, logs, traces, alerts and error tracking, embedded in the platform and
speaking Prometheus's, Loki's and OpenTelemetry's protocols (docs/monitoring.md)."""
