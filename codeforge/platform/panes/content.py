"""What a pane shows, as data: rendered to HTML for webviews and browsers, to text for terminals."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Bars", "Chart", "Code", "Log", "PaneContent", "Point", "Section", "Series", "Table", "Tree", "Waterfall"]


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


Point = tuple[int, float]  # (Unix time in milliseconds, value)
Series = tuple[str, list[Point]]  # (legend label, points oldest first)


@dataclass
class Chart:
    """Time series drawn as lines over a shared time axis (a dashboard panel): one line per
    series, its label in the legend. `unit` formats the y axis and values ("s", "bytes", "%",
    "req/s", ...; "" for plain numbers). `y_min`/`y_max` pin the y range; left out, it follows
    the data (from zero when nothing is negative). Non-finite values (PromQL's NaN) are skipped."""

    title: str
    series: list[Series]
    unit: str = ""
    y_min: float | None = None
    y_max: float | None = None
    empty: str = "no data"
    # The time range shown, in Unix ms; left out, the data's own first and last times.
    start_ms: int | None = None
    end_ms: int | None = None
    # Mark each point with a dot over a faint line: for sparse, separate samples (one per trace).
    dots: bool = False


@dataclass
class Waterfall:
    """Spans of a trace as bars on a time line: (depth, label, start offset ms, duration ms,
    is_error, detail) per row, parents before their children; error rows are marked."""

    title: str
    rows: list[tuple[int, str, float, float, bool, str]]
    empty: str = "nothing yet"


Section = Table | Bars | Tree | Log | Code | Chart | Waterfall


@dataclass
class PaneContent:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    # Seconds after which the page shows itself afresh (live tail, live dashboards); None: never.
    refresh_s: float | None = None
