"""Weighted graphs, shortest paths and components."""

from routekit.dijkstra import shortest_path
from routekit.errors import GraphError, NoPath
from routekit.graph import Graph

__all__ = ["Graph", "GraphError", "NoPath", "shortest_path"]
