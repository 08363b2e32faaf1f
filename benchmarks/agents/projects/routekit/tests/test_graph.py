import pytest

from routekit import Graph, GraphError


def test_undirected_edges_both_ways():
    g = Graph()
    g.add_edge("A", "B", 2)
    assert list(g.neighbours_of("B")) == [("A", 2)]
    assert list(g.edges()) == [("A", "B", 2)]


def test_parallel_edges_keep_lightest():
    g = Graph(directed=True)
    g.add_edge("A", "B", 5)
    g.add_edge("A", "B", 3)
    g.add_edge("A", "B", 4)
    assert g.weight("A", "B") == 3
    assert "B" in g and len(g) == 2
    assert list(g.neighbours_of("B")) == []


def test_bad_edges():
    g = Graph()
    with pytest.raises(GraphError):
        g.add_edge("A", "B", -1)
    with pytest.raises(GraphError):
        g.add_edge("A", "A")
    with pytest.raises(GraphError):
        g.remove_edge("A", "B")
    with pytest.raises(GraphError):
        list(g.neighbours_of("Z"))
