"""Monitoring operations of this part (docs/monitoring.md); filled by its owner."""

__all__: list[str] = []
