"""Errors of routekit."""


class GraphError(ValueError):
    """A graph or an input file is malformed."""


class NoPath(LookupError):
    """No path joins two nodes."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__(f"no path from {source} to {target}")
        self.source, self.target = source, target
