"""PromQL: parser and evaluator over the MetricsStore (docs/monitoring.md)."""
