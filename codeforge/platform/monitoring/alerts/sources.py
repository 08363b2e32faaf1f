"""What a rule's expression gives at an instant: its elements, each an alert to be (labels,
value). Metric rules ask the PromQL engine (every element of the resulting vector alerts, as
Prometheus's alerting rules; the threshold form keeps the elements whose value passes `op
value`); log rules count a log query's lines over the window and alert once when the count
passes. Also the checks `monitoring.add_rule` runs on an expression before storing it."""

from __future__ import annotations

import importlib
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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


class SourceMissing(RuntimeError):
    """The part a rule needs (PromQL engine, log store) is not in this build."""


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise SourceMissing(f"{name} is not available in this build ({exc})") from None


def check_promql(expr: str) -> None:
    """Raise ValueError with the parser's message (naming the column) when `expr` is not PromQL.
    Without the engine in this build the expression is stored unchecked."""
    try:
        parse = _module("codeforge.platform.monitoring.metrics.promql").parse
    except (SourceMissing, AttributeError):
        return
    try:
        parse(expr)
    except Exception as exc:  # PromQLError(message, position)
        raise ValueError(str(exc) or type(exc).__name__) from None


def check_log_query(query: str) -> None:
    try:
        module = _module("codeforge.platform.monitoring.logs.query")
    except SourceMissing:
        return
    parse = getattr(module, "parse", None) or getattr(module, "parse_query", None)
    if parse is None:
        return
    try:
        parse(query)
    except Exception as exc:  # LogQueryError(message, position)
        raise ValueError(str(exc) or type(exc).__name__) from None


def _vector(result: Any) -> list[Element]:
    """The elements of a PromQL value (promql.values): a vector's (labels, value) pairs; a
    scalar is one element without labels (as Prometheus's rules take it); a range vector or a
    string is refused with the fix."""
    kind = getattr(result, "result_type", None)
    if kind == "vector":
        return [Element(dict(labels), float(value)) for labels, value in result.samples]
    if kind == "scalar":
        return [Element({}, float(result.value))]
    if kind == "matrix":
        raise ValueError(
            "the expression gives a range vector; an alert rule needs an instant vector (drop the [range])"
        )
    if kind == "string":
        raise ValueError("the expression gives a string; an alert rule needs an instant vector")
    if isinstance(result, int | float):
        return [Element({}, float(result))]
    return [Element(dict(labels), float(value)) for labels, value in result]


def evaluate_rule(monitoring: Any, project_id: str, rule: Any, now_ms: int) -> list[Element]:
    """The elements of `rule` at `now_ms`; raises with a message for people when it fails."""
    compare = COMPARISONS.get(rule.op) if rule.op else None
    if rule.kind == "log":
        start_ns = (now_ms - int(rule.window_s * 1000)) * 1_000_000
        count = float(monitoring.logs.count(project_id, rule.expr, start_ns, now_ms * 1_000_000))
        threshold = 0.0 if rule.value is None else rule.value
        passes = (compare or operator.gt)(count, threshold)
        return [Element({}, count)] if passes else []
    evaluate = _module("codeforge.platform.monitoring.metrics.promql").evaluate_instant
    elements = _vector(evaluate(monitoring.metrics, project_id, rule.expr, now_ms))
    elements = [e for e in elements if not math.isnan(e.value)]
    if compare is not None and rule.value is not None:
        elements = [e for e in elements if compare(e.value, rule.value)]
    return elements


def drop_name(labels: Mapping[str, str]) -> dict[str, str]:
    """An alert's labels leave out the metric name, as Prometheus's."""
    return {k: v for k, v in labels.items() if k != "__name__"}
