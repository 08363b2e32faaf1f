"""What a pane shows, as data: rendered to HTML for webviews and browsers, to text for terminals."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Bars", "Code", "Log", "PaneContent", "Section", "Table", "Tree"]


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


@dataclass
class Log:
    """Entries in order, each a short tag and its text (a transcript): (tag, text) per entry."""

    title: str
    entries: list[tuple[str, str]]
    empty: str = "nothing yet"


@dataclass
class Code:
    """Preformatted text, shown as is; `diff`: a unified diff, its added and removed lines marked."""

    title: str
    text: str
    diff: bool = False
    empty: str = "nothing yet"


Section = Table | Bars | Tree | Log | Code


@dataclass
class PaneContent:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
