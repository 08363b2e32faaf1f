"""Reachability and connected components, ignoring weights."""

from __future__ import annotations

from collections import deque

from routekit.graph import Graph


def reachable(graph: Graph, source: str) -> list[str]:
    """Nodes reachable from `source` (itself included), in breadth-first order."""
    seen = {source}
    order = [source]
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for neighbour, _ in graph.neighbours_of(node):
            if neighbour not in seen:
                seen.add(neighbour)
                order.append(neighbour)
                queue.append(neighbour)
    return order


def components(graph: Graph) -> list[list[str]]:
    """Connected components of an undirected graph, each sorted, largest first."""
    if graph.directed:
        raise ValueError("components need an undirected graph")
    seen: set[str] = set()
    result = []
    for node in graph.nodes():
        if node in seen:
            continue
        component = reachable(graph, node)
        seen.update(component)
        result.append(sorted(component))
    return sorted(result, key=lambda c: (-len(c), c))


def hops(graph: Graph, source: str, target: str) -> int | None:
    """The fewest edges from `source` to `target`, or None."""
    depth = {source: 0}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        if node == target:
            return depth[node]
        for neighbour, _ in graph.neighbours_of(node):
            if neighbour not in depth:
                depth[neighbour] = depth[node] + 1
                queue.append(neighbour)
    return None
