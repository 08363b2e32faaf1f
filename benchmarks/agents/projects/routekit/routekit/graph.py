"""A weighted graph, directed or undirected."""

from __future__ import annotations

from collections.abc import Iterator

from routekit.errors import GraphError


class Graph:
    def __init__(self, directed: bool = False) -> None:
        self.directed = directed
        self._adjacent: dict[str, dict[str, float]] = {}

    def add_node(self, node: str) -> None:
        self._adjacent.setdefault(node, {})

    def add_edge(self, a: str, b: str, weight: float = 1.0) -> None:
        if weight < 0:
            raise GraphError(f"edge {a}-{b} has a negative weight {weight}")
        if a == b:
            raise GraphError(f"self loop on {a}")
        self.add_node(a)
        self.add_node(b)
        # parallel edges keep the lightest
        self._adjacent[a][b] = min(weight, self._adjacent[a].get(b, weight))
        if not self.directed:
            self._adjacent[b][a] = self._adjacent[a][b]

    def remove_edge(self, a: str, b: str) -> None:
        try:
            del self._adjacent[a][b]
            if not self.directed:
                del self._adjacent[b][a]
        except KeyError:
            raise GraphError(f"no edge {a}-{b}") from None

    def nodes(self) -> list[str]:
        return sorted(self._adjacent)

    def __contains__(self, node: object) -> bool:
        return node in self._adjacent

    def __len__(self) -> int:
        return len(self._adjacent)

    def neighbours_of(self, node: str) -> Iterator[tuple[str, float]]:
        """(neighbour, weight) pairs of the edges leaving `node`, by neighbour name."""
        if node not in self._adjacent:
            raise GraphError(f"unknown node {node}")
        yield from sorted(self._adjacent[node].items())

    def edges(self) -> Iterator[tuple[str, str, float]]:
        for a in self.nodes():
            for b, w in self.neighbours_of(a):
                if self.directed or a < b:
                    yield a, b, w

    def weight(self, a: str, b: str) -> float:
        try:
            return self._adjacent[a][b]
        except KeyError:
            raise GraphError(f"no edge {a}-{b}") from None
