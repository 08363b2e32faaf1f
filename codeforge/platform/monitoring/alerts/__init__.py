"""See docs/monitoring.md."""
