"""What the map knows of one file: its definitions (symbols) and the identifiers it uses."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MODULE_PREFIX", "FileTags", "Symbol", "family_of"]

# References are bare names (`save`, `Cart`) or attribute uses (`.save`, for `cart.save()`), so
# that `list[int]` never links to some class's `list` method.
# Identifiers naming a module (Python imports) live in their own namespace in the reference
# graph, so `import utils` links to utils.py but never to a function called `utils`.
MODULE_PREFIX = "\0module:"
_COMMENT_REACH = 10  # lines from a comment down to the definition it is about


# Languages whose files can name each other's definitions. A Python `text` variable and a
# JavaScript `text` function share a name, not a meaning: the graph keys identifiers by family.
_FAMILIES = {"typescript": "javascript", "tsx": "javascript", "cpp": "c"}


def family_of(language: str) -> str:
    return _FAMILIES.get(language, language)


@dataclass(frozen=True)
class Symbol:
    """A definition: a function, class, method, type or module-level variable."""

    name: str
    kind: str  # function | class | method | variable | type | interface | enum | module | …
    path: str  # workspace-relative, forward slashes
    line: int  # 1-based, the line holding the name
    end_line: int  # last line of the definition
    signature: str  # the definition's header as written (one line)
    parent: str = ""  # the enclosing class/type/impl, if any
    start_line: int = 0  # first line of the definition (decorators, annotations); line when 0

    @property
    def qualname(self) -> str:
        return f"{self.parent}.{self.name}" if self.parent else self.name

    @property
    def first_line(self) -> int:
        return self.start_line or self.line

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "qualname": self.qualname,
            "kind": self.kind,
            "path": self.path,
            "line": self.line,
            "end_line": self.end_line,
            "signature": self.signature,
        }


@dataclass
class FileTags:
    """One parsed file. `refs` counts identifiers used; `ref_lines` keeps where, for focus."""

    path: str
    language: str
    symbols: list[Symbol] = field(default_factory=list)
    refs: Counter[str] = field(default_factory=Counter)
    ref_lines: list[tuple[int, str]] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)  # MODULE_PREFIX idents this file defines
    error: str = ""  # why the parse was partial (a syntax error), for diagnostics

    @property
    def family(self) -> str:
        return family_of(self.language)

    @property
    def defines(self) -> set[str]:
        """Identifiers that link to this file. In Python a top-level definition answers bare
        names (`save`, imported) and a member (method, nested class) answers attribute uses
        (`.save`, from `cart.save()`); other languages' definitions answer both.
        Class-level attributes (dataclass fields, Java fields) are listed but link nothing:
        their names (`value`, `path`, `task`) are everyone's attribute reads."""
        out = set(self.modules)
        python = self.language == "python"
        for s in self.symbols:
            if s.kind == "attribute":
                continue
            if not python or s.parent:
                out.add("." + s.name)
            if not python or not s.parent:
                out.add(s.name)
        return out

    def add_ref(self, ident: str, line: int) -> None:
        self.refs[ident] += 1
        self.ref_lines.append((line, ident))

    def refs_between(self, first: int, last: int) -> set[str]:
        return {ident for line, ident in self.ref_lines if first <= line <= last}

    def innermost(self, line: int) -> Symbol | None:
        """The smallest definition whose lines hold `line`."""
        best: Symbol | None = None
        for s in self.symbols:
            if s.first_line <= line <= s.end_line and (
                best is None or s.end_line - s.first_line < best.end_line - best.first_line
            ):
                best = s
        return best

    def around(self, line: int) -> Symbol | None:
        """The definition a line is about: the innermost holding it, else the one starting
        just below (a comment above a definition describes it: "build what this says")."""
        inner = self.innermost(line)
        if inner is not None:
            return inner
        below = [s for s in self.symbols if line < s.first_line <= line + _COMMENT_REACH]
        return min(below, key=lambda s: (s.first_line, s.end_line - s.first_line), default=None)
