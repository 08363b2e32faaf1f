"""What a pane shows, as data: rendered to HTML for webviews and browsers, to text for terminals."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Bars", "PaneContent", "Section", "Table", "Tree"]


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    empty: str = "nothing yet"


@dataclass
class Bars:
    """A horizontal bar chart: (label, value, shown text) per bar."""

    title: str
    bars: list[tuple[str, float, str]]
    empty: str = "nothing yet"
    colors: dict[str, str] = field(default_factory=dict)  # label -> CSS colour; blue otherwise


@dataclass
class Tree:
    """An indented tree: (depth, label, detail) per node, parents before children."""

    title: str
    nodes: list[tuple[int, str, str]]
    empty: str = "nothing yet"


Section = Table | Bars | Tree


@dataclass
class PaneContent:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
