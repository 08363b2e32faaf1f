"""Platform-state tables of this part (docs/monitoring.md); filled by its owner."""
