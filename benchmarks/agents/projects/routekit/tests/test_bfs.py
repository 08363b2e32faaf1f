import pytest

from routekit import Graph
from routekit.bfs import components, hops, reachable


def make() -> Graph:
    g = Graph()
    for a, b in [("A", "B"), ("B", "C"), ("C", "D"), ("A", "E"), ("X", "Y")]:
        g.add_edge(a, b)
    g.add_node("Z")
    return g


def test_reachable_breadth_first():
    assert reachable(make(), "A") == ["A", "B", "E", "C", "D"]


def test_components_largest_first():
    assert components(make()) == [["A", "B", "C", "D", "E"], ["X", "Y"], ["Z"]]


def test_components_need_undirected():
    with pytest.raises(ValueError):
        components(Graph(directed=True))


def test_hops():
    g = make()
    assert hops(g, "A", "D") == 3
    assert hops(g, "A", "A") == 0
    assert hops(g, "A", "Y") is None
