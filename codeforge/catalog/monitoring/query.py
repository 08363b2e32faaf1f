"""monitoring.query (docs/monitoring.md); filled by its owner."""

__all__: list[str] = []
