"""What a rule's expression gives at an instant: its elements, each an alert to be (labels,
value). Metric rules ask the PromQL engine (every element of the resulting vector alerts, as
Prometheus's alerting rules; the threshold form keeps the elements whose value passes `op
value`); log rules count a log query's lines over the window and alert once when the count
passes. Also the checks `monitoring.add_rule` runs on an expression before storing it."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from codeforge.platform.monitoring.logs import query as log_query
from codeforge.platform.monitoring.metrics import promql

__all__ = ["COMPARISONS", "Element", "check_log_query", "check_promql", "evaluate_rule"]

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True, slots=True)
class Element:
    labels: dict[str, str]
    value: float


def check_promql(expr: str) -> None:
    """Raise ValueError with the parser's message (naming the column) when `expr` is not PromQL."""
    try:
        promql.parse(expr)
    except promql.PromQLError as exc:
        raise ValueError(str(exc)) from None


def check_log_query(query: str) -> None:
    try:
        log_query.parse(query)
    except log_query.LogQueryError as exc:
        raise ValueError(str(exc)) from None


def _vector(result: promql.Value) -> list[Element]:
    """The elements of a PromQL value: a vector's (labels, value) pairs; a scalar is one
    element without labels (as Prometheus's rules take it); a range vector or a string is
    refused with the fix."""
    if isinstance(result, promql.Vector):
        return [Element(dict(labels), float(value)) for labels, value in result.samples]
    if isinstance(result, promql.Scalar):
        return [Element({}, float(result.value))]
    if isinstance(result, promql.Matrix):
        raise ValueError(
            "the expression gives a range vector; an alert rule needs an instant vector (drop the [range])"
        )
    raise ValueError("the expression gives a string; an alert rule needs an instant vector")


def evaluate_rule(monitoring: Any, project_id: str, rule: Any, now_ms: int) -> list[Element]:
    """The elements of `rule` at `now_ms`; raises with a message for people when it fails."""
    compare = COMPARISONS.get(rule.op) if rule.op else None
    if rule.kind == "log":
        start_ns = (now_ms - int(rule.window_s * 1000)) * 1_000_000
        count = float(monitoring.logs.count(project_id, rule.expr, start_ns, now_ms * 1_000_000))
        threshold = 0.0 if rule.value is None else rule.value
        passes = (compare or operator.gt)(count, threshold)
        return [Element({}, count)] if passes else []
    elements = _vector(promql.evaluate_instant(monitoring.metrics, project_id, rule.expr, now_ms))
    elements = [e for e in elements if not math.isnan(e.value)]
    if compare is not None and rule.value is not None:
        elements = [e for e in elements if compare(e.value, rule.value)]
    return elements


def drop_name(labels: Mapping[str, str]) -> dict[str, str]:
    """An alert's labels leave out the metric name, as Prometheus's."""
    return {k: v for k, v in labels.items() if k != "__name__"}
