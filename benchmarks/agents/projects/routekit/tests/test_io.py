import pytest

from routekit import GraphError
from routekit.__main__ import main
from routekit.io import dump, parse


def test_parse_and_dump():
    g = parse("# roads\nA B 2\nB C  # weight 1\nD\n")
    assert g.weight("A", "B") == 2 and g.weight("C", "B") == 1
    assert dump(g) == "A B 2\nB C 1\nD\n"


def test_directed():
    g = parse("directed\nA B 1.5\n")
    assert g.directed and list(g.neighbours_of("B")) == []
    assert dump(g) == "directed\nA B 1.5\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [("A B C D", "line 1"), ("A B x", "not a number"), ("directed\nA B -2", "line 2: edge A-B has a negative")],
)
def test_parse_errors(text, message):
    with pytest.raises(GraphError, match=message):
        parse(text)


def test_cli(tmp_path, capsys):
    f = tmp_path / "g.txt"
    f.write_text("A B 1\nB C 1\nA C 5\nX Y\n", encoding="utf-8")
    assert main([str(f), "A", "C"]) == 0
    assert capsys.readouterr().out == "A -> B -> C (2)\n"
    assert main([str(f), "A", "X"]) == 1
    assert "no path from A to X" in capsys.readouterr().err
