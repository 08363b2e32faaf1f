"""Binary operators and aggregations on one evaluation step, as Prometheus computes them:
Go's float arithmetic, one-to-one vector matching with on/ignoring, set operators, and the
aggregation operators with by/without. Labels are sorted (name, value) tuples."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import lru_cache

from codeforge.platform.monitoring.metrics.promql.ast import VectorMatching
from codeforge.platform.monitoring.metrics.promql.errors import PromQLError
from codeforge.platform.monitoring.metrics.promql.functions import fsum, quantile

__all__ = [
    "ARITHMETIC",
    "COMPARISON",
    "Labels",
    "Sample",
    "aggregate",
    "drop_name",
    "format_labels",
    "scalar_binary",
    "vector_binary",
    "vector_scalar_binary",
]

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, float]

NAME = "__name__"


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _modulo(a: float, b: float) -> float:
    try:
        return math.fmod(a, b)
    except ValueError:  # Go's math.Mod answers NaN for x % 0 and Inf % y
        return math.nan


def _odd_integer(x: float) -> bool:
    return math.isfinite(x) and x == math.floor(x) and int(x) % 2 == 1


def _power(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except ZeroDivisionError:
        return math.copysign(math.inf, a) if _odd_integer(b) else math.inf
    except ValueError:
        if a == 0 and b < 0:  # Go: Pow(±0, y<0) is ±Inf
            return math.copysign(math.inf, a) if _odd_integer(b) else math.inf
        return math.nan  # a negative base to a fractional power
    except OverflowError:
        return -math.inf if a < 0 and _odd_integer(b) else math.inf


ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _divide,
    "%": _modulo,
    "^": _power,
}
COMPARISON: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


def format_labels(labels: Labels) -> str:
    name = dict(labels).get(NAME, "")
    rest = ", ".join(f'{k}="{v}"' for k, v in labels if k != NAME)
    return f"{name}{{{rest}}}"


def drop_name(labels: Labels) -> Labels:
    return tuple(pair for pair in labels if pair[0] != NAME)


def scalar_binary(op: str, a: float, b: float) -> float:
    if op in ARITHMETIC:
        return ARITHMETIC[op](a, b)
    return 1.0 if COMPARISON[op](a, b) else 0.0  # scalar comparisons always carry bool


def vector_scalar_binary(
    op: str, samples: list[Sample], scalar: float, scalar_left: bool, return_bool: bool
) -> list[Sample]:
    out: list[Sample] = []
    for labels, value in samples:
        a, b = (scalar, value) if scalar_left else (value, scalar)
        if op in ARITHMETIC:
            out.append((drop_name(labels), ARITHMETIC[op](a, b)))
        elif return_bool:
            out.append((drop_name(labels), 1.0 if COMPARISON[op](a, b) else 0.0))
        elif COMPARISON[op](a, b):
            out.append((labels, value))  # a filter keeps the vector's own value, either side
    return out


def _signature(labels: Labels, matching: VectorMatching) -> Labels:
    if matching.on:
        wanted = set(matching.labels)
        return tuple(pair for pair in labels if pair[0] in wanted)
    ignored = set(matching.labels) | {NAME}
    return tuple(pair for pair in labels if pair[0] not in ignored)


def _result_labels(labels: Labels, op: str, matching: VectorMatching, return_bool: bool) -> Labels:
    if op in ARITHMETIC or return_bool:
        labels = drop_name(labels)
    if matching.on:
        wanted = set(matching.labels)
        return tuple(pair for pair in labels if pair[0] in wanted)
    ignored = set(matching.labels)
    return tuple(pair for pair in labels if pair[0] not in ignored)


def vector_binary(
    op: str, lhs: list[Sample], rhs: list[Sample], matching: VectorMatching, return_bool: bool, pos: int
) -> list[Sample]:
    if op in ("and", "or", "unless"):
        return _set_operation(op, lhs, rhs, matching)
    right: dict[Labels, Sample] = {}
    for sample in rhs:
        sig = _signature(sample[0], matching)
        if sig in right:
            raise PromQLError(
                f"found duplicate series for the match group {format_labels(sig)} on the right-hand side of "
                f'"{op}": {format_labels(sample[0])} and {format_labels(right[sig][0])}; matching must be one to one: '
                "add labels to on(...) or aggregate that side (e.g. sum by (...))",
                pos,
                execution=True,
            )
        right[sig] = sample
    out: list[Sample] = []
    matched: set[Labels] = set()
    for labels, value in lhs:
        sig = _signature(labels, matching)
        found = right.get(sig)
        if found is None:
            continue
        if op in ARITHMETIC:
            result, keep = ARITHMETIC[op](value, found[1]), True
        else:
            keep = COMPARISON[op](value, found[1])
            result = (1.0 if keep else 0.0) if return_bool else value
            if not keep and not return_bool:
                continue
        if sig in matched:
            raise PromQLError(
                f'several series on the left-hand side of "{op}" match {format_labels(sig)}: many-to-one matching '
                "(group_left) is not supported; add labels to on(...) or aggregate that side",
                pos,
                execution=True,
            )
        matched.add(sig)
        out.append((_result_labels(labels, op, matching, return_bool), result))
    return out


def _set_operation(op: str, lhs: list[Sample], rhs: list[Sample], matching: VectorMatching) -> list[Sample]:
    right = {_signature(labels, matching) for labels, _ in rhs}
    if op == "and":
        return [s for s in lhs if _signature(s[0], matching) in right]
    if op == "unless":
        return [s for s in lhs if _signature(s[0], matching) not in right]
    left = {_signature(labels, matching) for labels, _ in lhs}
    return lhs + [s for s in rhs if _signature(s[0], matching) not in left]


# ---- aggregations ---------------------------------------------------------------------------


@lru_cache(maxsize=65_536)  # the same series recur at every step of a range query
def _group_key(labels: Labels, grouping: tuple[str, ...], without: bool) -> Labels:
    if without:
        dropped = set(grouping) | {NAME}
        return tuple(pair for pair in labels if pair[0] not in dropped)
    kept = set(grouping)
    return tuple(pair for pair in labels if pair[0] in kept)


def _nan_safe_extreme(values: list[float], pick: Callable[[list[float]], float]) -> float:
    numbers = [v for v in values if not math.isnan(v)]
    return pick(numbers) if numbers else math.nan


def _variance(values: list[float]) -> float:
    mean = fsum(values) / len(values)
    return fsum((v - mean) ** 2 for v in values) / len(values)


_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "sum": fsum,
    "avg": lambda vs: fsum(vs) / len(vs),
    "count": lambda vs: float(len(vs)),
    "group": lambda vs: 1.0,
    "min": lambda vs: _nan_safe_extreme(vs, min),
    "max": lambda vs: _nan_safe_extreme(vs, max),
    "stddev": lambda vs: math.sqrt(_variance(vs)),
    "stdvar": _variance,
}


def aggregate(op: str, samples: list[Sample], grouping: list[str], without: bool, param: float | None) -> list[Sample]:
    groups: dict[Labels, list[Sample]] = {}
    by = tuple(grouping)
    for sample in samples:
        groups.setdefault(_group_key(sample[0], by, without), []).append(sample)
    out: list[Sample] = []
    for key, members in groups.items():
        values = [v for _, v in members]
        if op in _REDUCERS:
            out.append((key, _REDUCERS[op](values)))
        elif op == "quantile":
            out.append((key, quantile(param if param is not None else math.nan, values)))
        else:  # topk / bottomk keep the chosen series whole
            k = int(param) if param is not None and math.isfinite(param) else 0
            if k < 1:
                continue
            # NaN ranks last either way, as Prometheus's heap comparison does.
            if op == "topk":
                ranked = sorted(members, key=lambda s: (math.isnan(s[1]), -s[1] if not math.isnan(s[1]) else 0))
            else:
                ranked = sorted(members, key=lambda s: (math.isnan(s[1]), s[1] if not math.isnan(s[1]) else 0))
            out.extend(ranked[:k])
    return out
