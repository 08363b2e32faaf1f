"""@implements of monitoring.query (docs/monitoring.md): times resolved against one `now`,
the query parsed (a syntax error is BadInput naming `query` and the position), evaluated over
the project's MetricsStore, and the value written as Prometheus's HTTP API writes values."""

from __future__ import annotations

import math
import time
from decimal import Decimal

from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.catalog.monitoring.query import QUERY, QueryInput, QueryResult, QuerySeries
from codeforge.catalog.monitoring.times import parse_duration, parse_time
from codeforge.platform.context import Context
from codeforge.platform.monitoring.metrics.promql.errors import PromQLError
from codeforge.platform.monitoring.metrics.promql.evaluator import (
    evaluate_instant,
    evaluate_range,
    resolution_problem,
)
from codeforge.platform.monitoring.metrics.promql.parser import parse
from codeforge.platform.monitoring.metrics.promql.values import Scalar, SeriesSource, String, Value, Vector
from codeforge.platform.monitoring.runtime import monitoring_for
from codeforge.platform.registry import implements

__all__ = ["DEFAULT_POINTS", "format_value", "query", "run_query"]

DEFAULT_POINTS = 250  # a range query without a step gets about this many points


def format_value(value: float) -> str:
    """A sample's value as Prometheus writes it: shortest exact digits, no exponent; NaN, ±Inf."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _series(value: Value) -> list[QuerySeries]:
    if isinstance(value, Scalar | String):
        shown = value.value if isinstance(value, String) else format_value(value.value)
        return [QuerySeries(labels={}, values=[(value.time_ms / 1000, shown)])]
    if isinstance(value, Vector):
        return [
            QuerySeries(labels=labels, values=[(value.time_ms / 1000, format_value(v))]) for labels, v in value.samples
        ]
    return [
        QuerySeries(labels=labels, values=[(t / 1000, format_value(v)) for t, v in points])
        for labels, points in value.series
    ]


def _bad_query(exc: PromQLError, field: str = "query") -> BadInput:
    fix = "correct the query at the position named" if exc.position >= 0 else "narrow the query"
    if field == "step":
        fix = "use a larger step or a shorter range"
    return BadInput(f"the query cannot be run: {exc}", errors=[FieldProblem(field, str(exc), fix)])


def run_query(store: SeriesSource, project_id: str, data: QueryInput, now_s: float | None = None) -> QueryResult:
    """The op's work without a platform context: for the op and for callers with a store in hand."""
    now_s = time.time() if now_s is None else now_s
    try:
        expr = parse(data.query)
    except PromQLError as exc:
        raise _bad_query(exc) from None
    warnings: list[str] = []
    if data.start is None:
        at_ms = round(parse_time(data.time or "now", now_s) * 1000)
        try:
            value: Value = evaluate_instant(store, project_id, expr, at_ms, warnings=warnings)
        except PromQLError as exc:
            raise _bad_query(exc.with_text(data.query)) from None
        start_s = end_s = at_ms / 1000
        step_s = 0.0
    else:
        start_ms = round(parse_time(data.start, now_s) * 1000)
        end_ms = round(parse_time(data.end or "now", now_s) * 1000)
        if end_ms < start_ms:
            raise BadInput(
                "the range ends before it starts",
                errors=[
                    FieldProblem("end", f"{data.end or 'now'} is before start {data.start}", "give an end after start")
                ],
            )
        if data.step is not None:
            step_ms = round(parse_duration(data.step) * 1000)
        else:
            step_ms = max(1000, (end_ms - start_ms) // DEFAULT_POINTS // 1000 * 1000)
        problem = resolution_problem(start_ms, end_ms, step_ms)
        if problem:
            fix = problem.split(": ", 1)[1]
            raise BadInput(f"the query cannot be run: {problem}", errors=[FieldProblem("step", problem, fix)])
        try:
            value = evaluate_range(store, project_id, expr, start_ms, end_ms, step_ms, warnings=warnings)
        except PromQLError as exc:
            raise _bad_query(exc.with_text(data.query)) from None
        start_s, end_s, step_s = start_ms / 1000, end_ms / 1000, step_ms / 1000
    return QueryResult(
        result_type=value.result_type,
        series=_series(value),
        warnings=warnings,
        start=start_s,
        end=end_s,
        step=step_s,
    )


@implements(QUERY)
def query(ctx: Context, data: QueryInput) -> QueryResult:
    store = monitoring_for(ctx.settings).metrics
    return run_query(store, ctx.require_project().id, data)
