"""PromQLError: what was wrong in a query and where (1-based line:column)."""

from __future__ import annotations

__all__ = ["PromQLError", "line_column"]


def line_column(text: str, position: int) -> tuple[int, int]:
    """1-based (line, column) of a 0-based character offset into `text`."""
    position = max(0, min(position, len(text)))
    before = text[:position]
    line = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1) + 1
    return line, column


class PromQLError(ValueError):
    """A query that cannot be parsed or evaluated. `position` is the 0-based offset into the
    query of what was wrong (-1 when the fault is not at one place, e.g. too many points);
    `str()` is `line:column: message` so a person finds the spot. `execution`: the query is
    well formed but its data made it fail (many-to-one matches, too many samples), which
    Prometheus's API answers as `execution` rather than `bad_data`."""

    def __init__(self, message: str, position: int = -1, text: str = "", *, execution: bool = False) -> None:
        self.message = message
        self.execution = execution
        self.position = position
        self.text = text
        if position >= 0:
            self.line, self.column = line_column(text, position) if text else (1, position + 1)
        else:
            self.line = self.column = 0
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.position < 0:
            return self.message
        return f"{self.line}:{self.column}: {self.message}"

    def with_text(self, text: str) -> PromQLError:
        """The same error, its line and column computed in `text` (the query it came from)."""
        return PromQLError(self.message, self.position, text, execution=self.execution)
