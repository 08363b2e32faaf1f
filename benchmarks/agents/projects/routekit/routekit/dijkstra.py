"""Shortest paths by Dijkstra's algorithm (non-negative weights)."""

from __future__ import annotations

import heapq

from routekit.errors import GraphError, NoPath
from routekit.graph import Graph


def distances(graph: Graph, source: str) -> tuple[dict[str, float], dict[str, str]]:
    """The distance of every node reachable from `source`, and each one's predecessor."""
    if source not in graph:
        raise GraphError(f"unknown node {source}")
    dist = {source: 0.0}
    previous: dict[str, str] = {}
    queue = [(0.0, source)]
    done: set[str] = set()
    while queue:
        d, node = heapq.heappop(queue)
        if node in done:
            continue
        done.add(node)
        for neighbour, weight in graph.neighbours_of(node):
            candidate = d + weight
            if neighbour not in dist or candidate < dist[neighbour]:
                dist[neighbour] = candidate
                previous[neighbour] = node
                heapq.heappush(queue, (candidate, neighbour))
    return dist, previous


def shortest_path(graph: Graph, source: str, target: str) -> tuple[float, list[str]]:
    """The length and the nodes of a shortest path from `source` to `target`; among equal
    paths the one found first (neighbours are visited by name). Raises NoPath."""
    if target not in graph:
        raise GraphError(f"unknown node {target}")
    dist, previous = distances(graph, source)
    if target not in dist:
        raise NoPath(source, target)
    path = [target]
    while path[-1] != source:
        path.append(previous[path[-1]])
    return dist[target], path[::-1]
