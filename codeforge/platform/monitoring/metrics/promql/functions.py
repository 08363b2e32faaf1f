"""PromQL's functions: their signatures (checked when parsing) and the arithmetic of those
that work on a range of samples, as Prometheus 2 computes it (rate's extrapolation, counter
resets, deriv's least squares, quantile's interpolation, histogram_quantile's buckets)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "AGGREGATIONS",
    "FUNCTIONS",
    "RANGE_FUNCTIONS",
    "UNSUPPORTED",
    "Signature",
    "bucket_quantile",
    "fsum",
    "quantile",
]


@dataclass(frozen=True, slots=True)
class Signature:
    args: tuple[str, ...]  # each "scalar" | "vector" | "matrix" | "string"
    returns: str
    optional: int = 0  # how many of the last args may be left out


FUNCTIONS: dict[str, Signature] = {
    **{name: Signature(("matrix",), "vector") for name in ("rate", "irate", "increase", "delta", "deriv")},
    **{
        f"{name}_over_time": Signature(("matrix",), "vector")
        for name in ("avg", "min", "max", "sum", "count", "last", "stddev", "stdvar")
    },
    "quantile_over_time": Signature(("scalar", "matrix"), "vector"),
    **{
        name: Signature(("vector",), "vector")
        for name in ("abs", "ceil", "floor", "exp", "ln", "log2", "log10", "sqrt", "sgn")
    },
    "round": Signature(("vector", "scalar"), "vector", optional=1),
    "clamp_min": Signature(("vector", "scalar"), "vector"),
    "clamp_max": Signature(("vector", "scalar"), "vector"),
    "clamp": Signature(("vector", "scalar", "scalar"), "vector"),
    "time": Signature((), "scalar"),
    "vector": Signature(("scalar",), "vector"),
    "scalar": Signature(("vector",), "scalar"),
    "absent": Signature(("vector",), "vector"),
    "histogram_quantile": Signature(("scalar", "vector"), "vector"),
}

AGGREGATIONS = frozenset(
    {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile"}
)
AGGREGATIONS_WITH_PARAM = frozenset({"topk", "bottomk", "quantile"})

# Prometheus has these; CodeForge's PromQL says so instead of "unknown function".
UNSUPPORTED = frozenset(
    {
        "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "changes", "cos", "cosh",
        "count_values", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
        "histogram_count", "histogram_fraction", "histogram_sum", "holt_winters", "hour", "idelta",
        "label_join", "label_replace", "minute", "month", "pi", "predict_linear", "present_over_time",
        "rad", "resets", "sin", "sinh", "sort", "sort_desc", "tan", "tanh", "timestamp", "year",
    }
)  # fmt: skip


def _go_round(x: float) -> float:
    """Prometheus's round: half up (math.Floor(x + 0.5)), not Python's half to even."""
    return math.floor(x + 0.5) if math.isfinite(x) else x


def _safe(f: Callable[[float], float]) -> Callable[[float], float]:
    def apply(x: float) -> float:
        try:
            return f(x)
        except ValueError:  # Go answers NaN where Python raises (log of a negative number)
            return math.nan
        except OverflowError:
            return math.inf

    return apply


def _ln(x: float) -> float:
    return -math.inf if x == 0 else math.log(x)


def _sgn(x: float) -> float:
    return x if math.isnan(x) else float((x > 0) - (x < 0))


def _int_or_inf(f: Callable[[float], int]) -> Callable[[float], float]:
    return lambda x: float(f(x)) if math.isfinite(x) else x


SIMPLE: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "ceil": _int_or_inf(math.ceil),
    "floor": _int_or_inf(math.floor),
    "exp": _safe(math.exp),
    "ln": _safe(_ln),
    "log2": _safe(lambda x: -math.inf if x == 0 else math.log2(x)),
    "log10": _safe(lambda x: -math.inf if x == 0 else math.log10(x)),
    "sqrt": _safe(math.sqrt),
    "sgn": _sgn,
}


def round_to(x: float, to_nearest: float) -> float:
    if to_nearest == 0 or not math.isfinite(x):
        return x if to_nearest != 0 else math.nan
    inverse = 1 / to_nearest  # as Prometheus, so round(x, 0.1) lands on the same floats
    return _go_round(x * inverse) / inverse


def quantile(phi: float, values: Sequence[float]) -> float:
    """Prometheus's quantile: φ-quantile by linear interpolation between the closest ranks;
    φ < 0 is -Inf, φ > 1 +Inf."""
    if not values or math.isnan(phi):
        return math.nan
    if phi < 0:
        return -math.inf
    if phi > 1:
        return math.inf
    ordered = sorted(values)
    rank = phi * (len(ordered) - 1)
    lower = max(0, math.floor(rank))
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def bucket_quantile(phi: float, buckets: list[tuple[float, float]]) -> float:
    """histogram_quantile over (upper bound, cumulative count) pairs, as Prometheus 2: the
    bucket holding the rank, linearly interpolated; the +Inf bucket answers the bound below it."""
    if math.isnan(phi):
        return math.nan
    if phi < 0:
        return -math.inf
    if phi > 1:
        return math.inf
    if not buckets:
        return math.nan
    merged: dict[float, float] = {}
    for bound, count in buckets:  # the same bound twice (a relabelled series): counts add up
        merged[bound] = merged.get(bound, 0.0) + count
    ordered = sorted(merged.items())
    if not math.isinf(ordered[-1][0]) or ordered[-1][0] < 0:
        return math.nan
    bounds = [b for b, _ in ordered]
    counts, highest = [], -math.inf
    for _, count in ordered:  # scrapes of buckets at slightly different times: keep them monotonic
        highest = max(highest, count) if not math.isnan(count) else highest
        counts.append(highest)
    if len(bounds) < 2:
        return math.nan
    observations = counts[-1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = phi * observations
    b = next((i for i in range(len(counts) - 1) if counts[i] >= rank), len(counts) - 1)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)


# ---- functions of a range of samples --------------------------------------------------------
# Each takes the window's times and values (oldest first, at least one sample), the window's
# bounds in ms and its length, and answers a value or None (no sample in the result).

RangeFn = Callable[[Sequence[int], Sequence[float], int, int, int], float | None]


def _extrapolated(
    times: Sequence[int], values: Sequence[float], start: int, end: int, range_ms: int, *, counter: bool, rate: bool
) -> float | None:
    if len(values) < 2:
        return None
    result = values[-1] - values[0]
    if counter:
        last = 0.0
        for v in values:  # a drop is a reset: the counter went on from zero
            if v < last:
                result += last
            last = v
    to_start = (times[0] - start) / 1000
    to_end = (end - times[-1]) / 1000
    sampled = (times[-1] - times[0]) / 1000
    average_gap = sampled / (len(values) - 1)
    if counter and result > 0 and values[0] >= 0:
        # A counter is never negative: extrapolate no further back than where it was zero.
        to_zero = sampled * (values[0] / result)
        to_start = min(to_start, to_zero)
    threshold = average_gap * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average_gap / 2
    interval += to_end if to_end < threshold else average_gap / 2
    result *= interval / sampled
    return result / (range_ms / 1000) if rate else result


def _instant_rate(times: Sequence[int], values: Sequence[float], start: int, end: int, range_ms: int) -> float | None:
    if len(values) < 2:
        return None
    previous, last = values[-2], values[-1]
    gap_ms = times[-1] - times[-2]
    if gap_ms == 0:
        return None
    change = last if last < previous else last - previous  # a reset: it restarted from zero
    return change / (gap_ms / 1000)


def _deriv(times: Sequence[int], values: Sequence[float], start: int, end: int, range_ms: int) -> float | None:
    if len(values) < 2:
        return None
    if all(v == values[0] for v in values):
        return math.nan if math.isinf(values[0]) else 0.0
    n = len(values)
    xs = [(t - times[0]) / 1000 for t in times]
    sum_x, sum_y = fsum(xs), fsum(values)
    sum_xy = fsum(x * y for x, y in zip(xs, values, strict=True))
    sum_x2 = fsum(x * x for x in xs)
    cov = sum_xy - sum_x * sum_y / n
    var = sum_x2 - sum_x * sum_x / n
    return cov / var if var else math.nan


def fsum(values: Iterable[float]) -> float:
    """An exact sum where it can be (no drift across a long window); a plain one where
    infinities or an overflow make fsum give up, answering what Go's float sum would."""
    items = list(values)
    try:
        return math.fsum(items)
    except (ValueError, OverflowError):
        return sum(items)


def _variance(values: Sequence[float]) -> float:
    mean = fsum(values) / len(values)
    return fsum((v - mean) ** 2 for v in values) / len(values)


def _min(values: Sequence[float]) -> float:
    numbers = [v for v in values if not math.isnan(v)]
    return min(numbers) if numbers else math.nan


def _max(values: Sequence[float]) -> float:
    numbers = [v for v in values if not math.isnan(v)]
    return max(numbers) if numbers else math.nan


RANGE_FUNCTIONS: dict[str, RangeFn] = {
    "rate": lambda t, v, s, e, r: _extrapolated(t, v, s, e, r, counter=True, rate=True),
    "increase": lambda t, v, s, e, r: _extrapolated(t, v, s, e, r, counter=True, rate=False),
    "delta": lambda t, v, s, e, r: _extrapolated(t, v, s, e, r, counter=False, rate=False),
    "irate": _instant_rate,
    "deriv": _deriv,
    "avg_over_time": lambda t, v, s, e, r: fsum(v) / len(v),
    "min_over_time": lambda t, v, s, e, r: _min(v),
    "max_over_time": lambda t, v, s, e, r: _max(v),
    "sum_over_time": lambda t, v, s, e, r: fsum(v),
    "count_over_time": lambda t, v, s, e, r: float(len(v)),
    "last_over_time": lambda t, v, s, e, r: v[-1],
    "stddev_over_time": lambda t, v, s, e, r: math.sqrt(_variance(v)),
    "stdvar_over_time": lambda t, v, s, e, r: _variance(v),
}

COUNTER_FUNCTIONS = frozenset({"rate", "irate", "increase"})
COUNTER_SUFFIXES = ("_total", "_sum", "_count", "_bucket")
