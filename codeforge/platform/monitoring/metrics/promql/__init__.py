"""PromQL: parser and evaluator over the MetricsStore (docs/monitoring.md).

`parse(text)` gives the expression tree or a PromQLError naming line:column; `evaluate_instant`
and `evaluate_range` compute a query over any SeriesSource (`MetricsStore`, `MemorySource`)."""

from codeforge.platform.monitoring.metrics.promql.ast import Expr
from codeforge.platform.monitoring.metrics.promql.errors import PromQLError
from codeforge.platform.monitoring.metrics.promql.evaluator import (
    LOOKBACK_MS,
    MAX_POINTS_PER_SERIES,
    evaluate_instant,
    evaluate_range,
)
from codeforge.platform.monitoring.metrics.promql.memory import MemorySource
from codeforge.platform.monitoring.metrics.promql.parser import parse
from codeforge.platform.monitoring.metrics.promql.values import Matrix, Scalar, SeriesSource, String, Value, Vector

__all__ = [
    "LOOKBACK_MS",
    "MAX_POINTS_PER_SERIES",
    "Expr",
    "Matrix",
    "MemorySource",
    "PromQLError",
    "Scalar",
    "SeriesSource",
    "String",
    "Value",
    "Vector",
    "evaluate_instant",
    "evaluate_range",
    "parse",
]
