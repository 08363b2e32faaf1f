"""Edge-list files: one edge per line, 'A B 2.5' (weight optional), '#' comments,
'directed' alone on the first line for a directed graph."""

from __future__ import annotations

from pathlib import Path

from routekit.errors import GraphError
from routekit.graph import Graph


def parse(text: str) -> Graph:
    lines = text.splitlines()
    directed = bool(lines) and lines[0].strip() == "directed"
    graph = Graph(directed=directed)
    for number, raw in enumerate(lines[1:] if directed else lines, start=2 if directed else 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) == 1:
            graph.add_node(fields[0])
            continue
        if len(fields) > 3:
            raise GraphError(f"line {number}: expected 'A B [weight]', got {raw.strip()!r}")
        try:
            weight = float(fields[2]) if len(fields) == 3 else 1.0
        except ValueError:
            raise GraphError(f"line {number}: weight {fields[2]!r} is not a number") from None
        try:
            graph.add_edge(fields[0], fields[1], weight)
        except GraphError as exc:
            raise GraphError(f"line {number}: {exc}") from None
    return graph


def dump(graph: Graph) -> str:
    out = ["directed"] if graph.directed else []
    linked = set()
    for a, b, w in graph.edges():
        out.append(f"{a} {b} {w:g}")
        linked.update((a, b))
    out += [node for node in graph.nodes() if node not in linked]
    return "\n".join(out) + "\n"


def load(path: Path) -> Graph:
    return parse(path.read_text(encoding="utf-8"))
