"""@implements of monitoring.query (docs/monitoring.md); filled by its owner."""
