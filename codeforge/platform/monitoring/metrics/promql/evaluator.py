"""Evaluation of a parsed query over a SeriesSource, at one time or at every step of a range.

Each selector's samples are read ONCE for the whole evaluation (the range plus the selector's
window and offset) and every step is then computed in memory: an instant selector takes each
series' latest sample within the 5-minute lookback (bisect), a range selector the samples in
[t - range, t] (both ends included, as Prometheus 2). Every node answers all steps at once:
scalars as a list of floats, instant vectors as one list of samples per step."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from codeforge.platform.monitoring.metrics.promql.ast import (
    Aggregate,
    Binary,
    Call,
    Expr,
    MatrixSelector,
    NumberLiteral,
    Paren,
    StringLiteral,
    Unary,
    VectorSelector,
)
from codeforge.platform.monitoring.metrics.promql.errors import PromQLError
from codeforge.platform.monitoring.metrics.promql.functions import (
    COUNTER_FUNCTIONS,
    COUNTER_SUFFIXES,
    RANGE_FUNCTIONS,
    SIMPLE,
    bucket_quantile,
    quantile,
    round_to,
)
from codeforge.platform.monitoring.metrics.promql.operators import (
    Labels,
    Sample,
    aggregate,
    drop_name,
    format_labels,
    scalar_binary,
    vector_binary,
    vector_scalar_binary,
)
from codeforge.platform.monitoring.metrics.promql.parser import parse
from codeforge.platform.monitoring.metrics.promql.values import Matrix, Scalar, SeriesSource, String, Value, Vector

__all__ = [
    "LOOKBACK_MS",
    "MAX_POINTS_PER_SERIES",
    "MAX_SAMPLES",
    "evaluate_instant",
    "evaluate_range",
    "resolution_problem",
]

LOOKBACK_MS = 5 * 60 * 1000
MAX_POINTS_PER_SERIES = 11_000  # as Prometheus: more steps than this is refused, not truncated


def resolution_problem(start_ms: int, end_ms: int, step_ms: int) -> str | None:
    """Why a range and step ask for too many points per series (Prometheus's rule: more than
    11,000 steps between start and end), with the step that would do; None when they don't."""
    steps = (end_ms - start_ms) // step_ms
    if steps <= MAX_POINTS_PER_SERIES:
        return None
    smallest_s = math.ceil((end_ms - start_ms) / MAX_POINTS_PER_SERIES / 1000)
    return (
        f"the range and step give {steps + 1:,} points per series, more than the {MAX_POINTS_PER_SERIES:,} steps "
        f"answered: use a step of at least {smallest_s}s or a shorter range"
    )


MAX_SAMPLES = 5_000_000  # samples read for one query, all selectors together


@dataclass(slots=True)
class _Series:
    labels: Labels
    times: list[int]
    values: list[float]


@dataclass(slots=True)
class _Scalars:
    values: list[float]


@dataclass(slots=True)
class _Vectors:
    steps: list[list[Sample]]


@dataclass(slots=True)
class _Ranges:
    """A range selector's series; each step's window is found when a function asks."""

    node: MatrixSelector
    series: list[_Series]


@dataclass(slots=True)
class _Text:
    value: str


_Result = _Scalars | _Vectors | _Ranges | _Text


def evaluate_instant(
    store: SeriesSource, project_id: str, query: str | Expr, at_ms: int, *, warnings: list[str] | None = None
) -> Value:
    """The query's value at `at_ms`: Scalar, String, Vector, or Matrix (a range selector's samples)."""
    expr = parse(query) if isinstance(query, str) else query
    evaluator = _Evaluator(store, project_id, [at_ms], warnings, query if isinstance(query, str) else "")
    result = evaluator.run(expr)
    if isinstance(result, _Scalars):
        return Scalar(at_ms, result.values[0])
    if isinstance(result, _Text):
        return String(at_ms, result.value)
    if isinstance(result, _Vectors):
        return Vector(at_ms, [(dict(labels), value) for labels, value in result.steps[0]])
    matrix = Matrix()
    for series, (lo, hi) in zip(result.series, evaluator.windows(result, 0), strict=True):
        if lo < hi:
            points = list(zip(series.times[lo:hi], series.values[lo:hi], strict=True))
            matrix.series.append((dict(series.labels), points))
    return matrix


def evaluate_range(
    store: SeriesSource,
    project_id: str,
    query: str | Expr,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    *,
    warnings: list[str] | None = None,
) -> Matrix:
    """The query at start, start + step, ... up to end: a Matrix, each series with the steps it had."""
    if step_ms <= 0:
        raise PromQLError("the step must be more than zero (e.g. 15s)")
    if end_ms < start_ms:
        raise PromQLError("the range ends before it starts: end must not be before start")
    problem = resolution_problem(start_ms, end_ms, step_ms)
    if problem:
        raise PromQLError(problem)
    expr = parse(query) if isinstance(query, str) else query
    if expr.type not in ("scalar", "vector"):
        raise PromQLError(
            f"a range query needs a scalar or an instant vector expression, got a "
            f"{'range vector' if expr.type == 'matrix' else 'string'} (wrap a range selector in a function "
            "such as rate())",
            expr.pos,
            query if isinstance(query, str) else "",
        )
    steps = list(range(start_ms, end_ms + 1, step_ms))
    result = _Evaluator(store, project_id, steps, warnings, query if isinstance(query, str) else "").run(expr)
    if isinstance(result, _Scalars):
        return Matrix([({}, [(t, v) for t, v in zip(steps, result.values, strict=True)])])
    assert isinstance(result, _Vectors)
    by_labels: dict[Labels, list[tuple[int, float]]] = {}
    for t, samples in zip(steps, result.steps, strict=True):
        for labels, value in samples:
            by_labels.setdefault(labels, []).append((t, value))
    return Matrix([(dict(labels), by_labels[labels]) for labels in sorted(by_labels)])


class _Evaluator:
    def __init__(
        self, store: SeriesSource, project_id: str, steps: list[int], warnings: list[str] | None, text: str
    ) -> None:
        self.store = store
        self.project_id = project_id
        self.steps = steps
        self.warnings = warnings if warnings is not None else []
        self.text = text
        self.selected: dict[int, list[_Series]] = {}
        self.samples_read = 0

    def run(self, expr: Expr) -> _Result:
        try:
            self.select_all(expr)
            return self.eval(expr)
        except PromQLError as exc:
            raise exc.with_text(self.text) if self.text and not exc.text else exc from None

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # ---- reading samples -------------------------------------------------------------------

    def select_all(self, expr: Expr) -> None:
        for selector, window in _selectors(expr):
            first = self.steps[0] - selector.offset_ms - window
            last = self.steps[-1] - selector.offset_ms
            found = self.store.select(self.project_id, selector.matchers, first, last)
            self.samples_read += sum(len(s.times_ms) for s in found)
            if self.samples_read > MAX_SAMPLES:
                raise PromQLError(
                    f"the query reads more than {MAX_SAMPLES:,} samples; narrow the selectors, the range or its window",
                    selector.pos,
                    execution=True,
                )
            if not found:
                self.warn(f"no series match {selector.text} in the queried time range")
            self.selected[id(selector)] = [
                _Series(tuple(sorted(s.labels.items())), s.times_ms, s.values) for s in found
            ]

    def windows(self, ranges: _Ranges, step_index: int | None = None) -> Iterator[tuple[int, int]]:
        """For each series: its samples' index range [lo, hi) inside the window at one step."""
        node = ranges.node
        steps = self.steps if step_index is None else [self.steps[step_index]]
        for series in ranges.series:
            for t in steps:
                end = t - node.selector.offset_ms
                yield bisect_left(series.times, end - node.range_ms), bisect_right(series.times, end)

    # ---- nodes -----------------------------------------------------------------------------

    def eval(self, expr: Expr) -> _Result:
        n = len(self.steps)
        if isinstance(expr, NumberLiteral):
            return _Scalars([expr.value] * n)
        if isinstance(expr, StringLiteral):
            return _Text(expr.value)
        if isinstance(expr, Paren):
            return self.eval(expr.expr)
        if isinstance(expr, VectorSelector):
            return self.instant_selector(expr)
        if isinstance(expr, MatrixSelector):
            return _Ranges(expr, self.selected[id(expr.selector)])
        if isinstance(expr, Unary):
            inner = self.eval(expr.expr)
            if isinstance(inner, _Scalars):
                return _Scalars([-v for v in inner.values])
            return self.unique(
                _Vectors([[(drop_name(labels), -v) for labels, v in step] for step in self.vectors(inner)]), expr
            )
        if isinstance(expr, Binary):
            return self.binary(expr)
        if isinstance(expr, Aggregate):
            return self.aggregate(expr)
        return self.call(expr)

    def scalars(self, result: _Result) -> list[float]:
        assert isinstance(result, _Scalars)
        return result.values

    def vectors(self, result: _Result) -> list[list[Sample]]:
        assert isinstance(result, _Vectors)
        return result.steps

    def unique(self, result: _Vectors, expr: Expr) -> _Vectors:
        """Prometheus refuses a vector holding two samples with one label set (two series that
        differed only by name, once the name is dropped)."""
        for step in result.steps:
            seen: set[Labels] = set()
            for labels, _ in step:
                if labels in seen:
                    raise PromQLError(
                        f"the result holds two series with the labels {format_labels(labels)} (they differed only "
                        "by metric name); aggregate them, e.g. sum by (...)",
                        expr.pos,
                        execution=True,
                    )
                seen.add(labels)
        return result

    def instant_selector(self, node: VectorSelector) -> _Vectors:
        steps: list[list[Sample]] = [[] for _ in self.steps]
        for series in self.selected[id(node)]:
            times = series.times
            for i, t in enumerate(self.steps):
                end = t - node.offset_ms
                at = bisect_right(times, end) - 1
                if at >= 0 and times[at] >= end - LOOKBACK_MS:
                    steps[i].append((series.labels, series.values[at]))
        return _Vectors(steps)

    def binary(self, node: Binary) -> _Result:
        lhs, rhs = self.eval(node.lhs), self.eval(node.rhs)
        if isinstance(lhs, _Scalars) and isinstance(rhs, _Scalars):
            return _Scalars([scalar_binary(node.op, a, b) for a, b in zip(lhs.values, rhs.values, strict=True)])
        if isinstance(lhs, _Scalars) or isinstance(rhs, _Scalars):
            scalar_left = isinstance(lhs, _Scalars)
            scalars = self.scalars(lhs if scalar_left else rhs)
            vectors = self.vectors(rhs if scalar_left else lhs)
            out = [
                vector_scalar_binary(node.op, step, s, scalar_left, node.return_bool)
                for step, s in zip(vectors, scalars, strict=True)
            ]
            return self.unique(_Vectors(out), node)
        pairs = zip(self.vectors(lhs), self.vectors(rhs), strict=True)
        out = [vector_binary(node.op, a, b, node.matching, node.return_bool, node.pos) for a, b in pairs]
        return self.unique(_Vectors(out), node)

    def aggregate(self, node: Aggregate) -> _Vectors:
        vectors = self.vectors(self.eval(node.expr))
        params: list[float | None] = [None] * len(self.steps)
        if node.param is not None:
            params = list(self.scalars(self.eval(node.param)))
        return _Vectors(
            [aggregate(node.op, step, node.grouping, node.without, p) for step, p in zip(vectors, params, strict=True)]
        )

    # ---- functions -------------------------------------------------------------------------

    def call(self, node: Call) -> _Result:
        name = node.func
        if name == "time":
            return _Scalars([t / 1000 for t in self.steps])
        if name in RANGE_FUNCTIONS or name == "quantile_over_time":
            return self.range_function(node)
        args = [self.eval(arg) for arg in node.args]
        if name == "vector":
            return _Vectors([[((), v)] for v in self.scalars(args[0])])
        if name == "scalar":
            return _Scalars([step[0][1] if len(step) == 1 else math.nan for step in self.vectors(args[0])])
        if name == "absent":
            labels = _absent_labels(node.args[0])
            return _Vectors([[] if step else [(labels, 1.0)] for step in self.vectors(args[0])])
        if name == "histogram_quantile":
            phis = self.scalars(args[0])
            out = [_histogram_quantile(phi, step) for phi, step in zip(phis, self.vectors(args[1]), strict=True)]
            return self.unique(_Vectors(out), node)
        vectors = self.vectors(args[0])
        extra = [self.scalars(a) for a in args[1:]]
        out_steps: list[list[Sample]] = []
        for i, step in enumerate(vectors):
            if name in SIMPLE:
                fn = SIMPLE[name]
                out_steps.append([(drop_name(labels), fn(v)) for labels, v in step])
            elif name == "round":
                to = extra[0][i] if extra else 1.0
                out_steps.append([(drop_name(labels), round_to(v, to)) for labels, v in step])
            else:
                low = extra[0][i] if name in ("clamp_min", "clamp") else -math.inf
                high = extra[-1][i] if name in ("clamp_max", "clamp") else math.inf
                if name == "clamp" and high < low:
                    out_steps.append([])  # as Prometheus: an empty answer, not an error
                    continue
                out_steps.append([(drop_name(labels), _clamp(v, low, high)) for labels, v in step])
        return self.unique(_Vectors(out_steps), node)

    def range_function(self, node: Call) -> _Vectors:
        name = node.func
        ranges = self.eval(node.args[-1])
        assert isinstance(ranges, _Ranges)
        phis = self.scalars(self.eval(node.args[0])) if name == "quantile_over_time" else None
        selector = ranges.node.selector
        if name in COUNTER_FUNCTIONS and selector.name and not selector.name.endswith(COUNTER_SUFFIXES):
            self.warn(
                f'{name}() of "{selector.name}": it might not be a counter (its name does not end in '
                "_total, _sum, _count or _bucket); use deriv() or delta() for a gauge"
            )
        fn = RANGE_FUNCTIONS.get(name)
        range_ms, n = ranges.node.range_ms, len(self.steps)
        out: list[list[Sample]] = [[] for _ in range(n)]
        windows = self.windows(ranges)
        for series in ranges.series:
            labels = series.labels if name == "last_over_time" else drop_name(series.labels)
            for i in range(n):
                lo, hi = next(windows)
                if lo >= hi:
                    continue
                times, values = series.times[lo:hi], series.values[lo:hi]
                if phis is not None:
                    value: float | None = quantile(phis[i], values)
                else:
                    assert fn is not None
                    end = self.steps[i] - selector.offset_ms
                    value = fn(times, values, end - range_ms, end, range_ms)
                if value is not None:
                    out[i].append((labels, value))
        return self.unique(_Vectors(out), node)


def _clamp(v: float, low: float, high: float) -> float:
    if math.isnan(v):
        return v
    return max(low, min(high, v))


def _absent_labels(arg: Expr) -> Labels:
    """absent()'s labels, as Prometheus: those its selector fixes with `=` (once each)."""
    if not isinstance(arg, VectorSelector):
        return ()
    labels: dict[str, str] = {}
    dropped: set[str] = set()
    for m in arg.matchers:
        if m.name == "__name__":
            continue
        if m.op == "=" and m.name not in labels:
            labels[m.name] = m.value
        else:
            dropped.add(m.name)
    return tuple(sorted((k, v) for k, v in labels.items() if k not in dropped))


def _histogram_quantile(phi: float, samples: list[Sample]) -> list[Sample]:
    buckets: dict[Labels, list[tuple[float, float]]] = {}
    for labels, value in samples:
        le = dict(labels).get("le")
        if le is None:
            continue
        try:
            bound = float(le)
        except ValueError:
            continue  # a bucket whose bound is not a number is skipped, as Prometheus does
        key = tuple(pair for pair in labels if pair[0] not in ("le", "__name__"))
        buckets.setdefault(key, []).append((bound, value))
    return [(key, bucket_quantile(phi, found)) for key, found in buckets.items()]


def _selectors(expr: Expr, window: int = LOOKBACK_MS) -> Iterator[tuple[VectorSelector, int]]:
    """Every selector of the query with how far back before each step it reads."""
    if isinstance(expr, VectorSelector):
        yield expr, window
    elif isinstance(expr, MatrixSelector):
        yield expr.selector, expr.range_ms
    elif isinstance(expr, Paren | Unary):
        yield from _selectors(expr.expr)
    elif isinstance(expr, Binary):
        yield from _selectors(expr.lhs)
        yield from _selectors(expr.rhs)
    elif isinstance(expr, Aggregate):
        if expr.param is not None:
            yield from _selectors(expr.param)
        yield from _selectors(expr.expr)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from _selectors(arg)
