"""Monitoring panes (docs/monitoring.md); filled by its owner."""
