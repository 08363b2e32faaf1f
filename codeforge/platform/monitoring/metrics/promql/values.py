"""What a query answers: a scalar, a string, an instant vector (labels and a value each) or a
matrix (labels and points each); times in Unix milliseconds, labels as plain dicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from codeforge.platform.monitoring.records import Matcher, SeriesData

__all__ = ["Matrix", "Scalar", "SeriesSource", "String", "Value", "Vector"]


class SeriesSource(Protocol):
    """Where selectors read samples: MetricsStore, or an in-memory source in tests."""

    def select(self, project_id: str, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[SeriesData]: ...


@dataclass(slots=True)
class Scalar:
    time_ms: int
    value: float

    result_type = "scalar"


@dataclass(slots=True)
class String:
    time_ms: int
    value: str

    result_type = "string"


@dataclass(slots=True)
class Vector:
    time_ms: int
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    result_type = "vector"


@dataclass(slots=True)
class Matrix:
    series: list[tuple[dict[str, str], list[tuple[int, float]]]] = field(default_factory=list)

    result_type = "matrix"


Value = Scalar | String | Vector | Matrix
