import pytest

from routekit import Graph, GraphError, NoPath, shortest_path
from routekit.dijkstra import distances


def city() -> Graph:
    g = Graph()
    for a, b, w in [("A", "B", 4), ("A", "C", 1), ("C", "B", 2), ("B", "D", 1), ("C", "D", 5), ("D", "E", 3)]:
        g.add_edge(a, b, w)
    return g


def test_prefers_light_path_over_few_hops():
    assert shortest_path(city(), "A", "B") == (3, ["A", "C", "B"])
    assert shortest_path(city(), "A", "E") == (7, ["A", "C", "B", "D", "E"])


def test_distances_and_predecessors():
    dist, previous = distances(city(), "A")
    assert dist == {"A": 0, "B": 3, "C": 1, "D": 4, "E": 7}
    assert previous["D"] == "B"


def test_source_is_target():
    assert shortest_path(city(), "D", "D") == (0, ["D"])


def test_directed_edges_one_way():
    g = Graph(directed=True)
    g.add_edge("A", "B", 1)
    assert shortest_path(g, "A", "B") == (1, ["A", "B"])
    with pytest.raises(NoPath):
        shortest_path(g, "B", "A")


def test_ties_broken_by_name():
    g = Graph()
    for a, b in [("S", "M"), ("S", "K"), ("M", "T"), ("K", "T")]:
        g.add_edge(a, b, 1)
    assert shortest_path(g, "S", "T") == (2, ["S", "K", "T"])


def test_unknown_nodes():
    with pytest.raises(GraphError):
        shortest_path(city(), "A", "Q")
    with pytest.raises(GraphError):
        shortest_path(city(), "Q", "A")
