"""@implements of this part's operations (docs/monitoring.md); filled by its owner."""
