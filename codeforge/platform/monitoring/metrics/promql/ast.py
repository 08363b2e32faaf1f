"""The parsed query: expression nodes, each with the offset it starts at and its PromQL type
(scalar, vector for an instant vector, matrix for a range vector, string)."""

from __future__ import annotations

from dataclasses import dataclass, field

from codeforge.platform.monitoring.records import Matcher

__all__ = [
    "Aggregate",
    "Binary",
    "Call",
    "Expr",
    "MatrixSelector",
    "NumberLiteral",
    "Paren",
    "StringLiteral",
    "Unary",
    "VectorMatching",
    "VectorSelector",
    "type_name",
]

TYPE_NAMES = {"scalar": "scalar", "vector": "instant vector", "matrix": "range vector", "string": "string"}


def type_name(kind: str) -> str:
    """How an error names a type, with its article: `an instant vector`, `a range vector`."""
    name = TYPE_NAMES[kind]
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


@dataclass(slots=True)
class NumberLiteral:
    value: float
    pos: int

    @property
    def type(self) -> str:
        return "scalar"


@dataclass(slots=True)
class StringLiteral:
    value: str
    pos: int

    @property
    def type(self) -> str:
        return "string"


@dataclass(slots=True)
class VectorSelector:
    """`name{label="v", ...} offset 5m`: the metric name, when written, is a `__name__` matcher."""

    matchers: list[Matcher]
    pos: int
    text: str = ""  # as written, for warnings and errors
    offset_ms: int = 0

    @property
    def type(self) -> str:
        return "vector"

    @property
    def name(self) -> str:
        return next((m.value for m in self.matchers if m.name == "__name__" and m.op == "="), "")


@dataclass(slots=True)
class MatrixSelector:
    """`selector[5m]`: the samples of the last `range_ms` before each evaluation time."""

    selector: VectorSelector
    range_ms: int
    pos: int

    @property
    def type(self) -> str:
        return "matrix"


@dataclass(slots=True)
class Call:
    func: str
    args: list[Expr]
    pos: int
    return_type: str = "vector"

    @property
    def type(self) -> str:
        return self.return_type


@dataclass(slots=True)
class Aggregate:
    """`sum by (job) (expr)`, `topk(3, expr)`: `param` is topk's k or quantile's φ."""

    op: str
    expr: Expr
    pos: int
    param: Expr | None = None
    grouping: list[str] = field(default_factory=list)
    without: bool = False

    @property
    def type(self) -> str:
        return "vector"


@dataclass(slots=True)
class VectorMatching:
    """`on(a, b)` (on=True) or `ignoring(a, b)` (on=False, the default with no labels)."""

    on: bool = False
    labels: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Binary:
    op: str  # + - * / % ^ == != > < >= <= and or unless
    lhs: Expr
    rhs: Expr
    pos: int  # the operator's
    return_bool: bool = False
    matching: VectorMatching = field(default_factory=VectorMatching)

    @property
    def type(self) -> str:
        return "scalar" if self.lhs.type == "scalar" and self.rhs.type == "scalar" else "vector"


@dataclass(slots=True)
class Unary:
    op: str  # - or +
    expr: Expr
    pos: int

    @property
    def type(self) -> str:
        return self.expr.type


@dataclass(slots=True)
class Paren:
    expr: Expr
    pos: int

    @property
    def type(self) -> str:
        return self.expr.type


Expr = NumberLiteral | StringLiteral | VectorSelector | MatrixSelector | Call | Aggregate | Binary | Unary | Paren
