"""What a task is about: files, symbols and lines, from a diagnostic, a selection or a failing
test. The map ranks the codebase around it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from codeforge.catalog.errors import BadInput

__all__ = ["Focus", "normalize_path"]

_PARAMS = re.compile(r"\[.*\]$")


def normalize_path(path: str) -> str:
    """Workspace-relative with forward slashes, no leading `./`."""
    path = path.replace("\\", "/").strip()
    while path.startswith("./"):
        path = path[2:]
    return path.strip("/")


@dataclass
class Focus:
    """Files the task is in, symbols it names, and lines it points at (1-based, per file)."""

    paths: list[str] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    lines: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.paths = [normalize_path(p) for p in self.paths if normalize_path(p)]
        self.lines = {normalize_path(p): sorted(set(ls)) for p, ls in self.lines.items() if normalize_path(p)}
        for path in self.lines:
            if path not in self.paths:
                self.paths.append(path)

    @classmethod
    def from_diagnostic(cls, path: str, line: int) -> Focus:
        """A diagnostic at `line` of `path`."""
        return cls(paths=[path], lines={path: [line]} if line > 0 else {})

    @classmethod
    def from_selection(cls, path: str, start_line: int, end_line: int) -> Focus:
        """A selection of lines `start_line`..`end_line` (inclusive) of `path`."""
        if start_line <= 0:
            return cls(paths=[path])
        end_line = max(start_line, end_line)
        return cls(paths=[path], lines={path: list(range(start_line, end_line + 1))})

    @classmethod
    def from_test(cls, test_id: str) -> Focus:
        """A failing test, by its pytest id: `tests/test_x.py::TestC::test_y[param]` focuses the
        file and the test (the map then follows what the test calls)."""
        path, _, rest = test_id.partition("::")
        if not normalize_path(path):
            raise BadInput(
                f"test id {test_id!r} names no file",
                fix="give the test as path::name, e.g. tests/test_x.py::test_y",
            )
        parts = [_PARAMS.sub("", part) for part in rest.split("::") if part]
        symbols = [".".join(parts[-2:])] if parts else []
        if parts and len(parts) > 1:
            symbols.append(parts[-1])
        return cls(paths=[path], symbols=symbols)

    @classmethod
    def for_task(
        cls, path: str = "", line: int = 0, end_line: int = 0, test: str = "", symbols: list[str] | None = None
    ) -> Focus:
        """The focus of an agent task: its failing test, its file and lines, both merged."""
        focus = cls.from_test(test) if test else cls()
        if path:
            other = cls.from_selection(path, line, end_line or line) if line > 0 else cls(paths=[path])
            focus = focus.merge(other)
        if symbols:
            focus = focus.merge(cls(symbols=symbols))
        return focus

    def merge(self, other: Focus) -> Focus:
        lines = {p: list(ls) for p, ls in self.lines.items()}
        for path, more in other.lines.items():
            lines[path] = sorted(set(lines.get(path, [])) | set(more))
        return Focus(
            paths=list(dict.fromkeys(self.paths + other.paths)),
            symbols=list(dict.fromkeys(self.symbols + other.symbols)),
            lines=lines,
        )

    @property
    def empty(self) -> bool:
        return not (self.paths or self.symbols)
