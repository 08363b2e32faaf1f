"""CodeForge's PromQL (docs/monitoring.md, PromQL): parser errors that name line:column and
what was expected; every function and operator on hand-made samples with exact answers; range
queries read each selector once; `monitoring.query` as a function (times, limits, bad input)
and end to end on the shared platform, over samples its scraper stored from a live target."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from codeforge.catalog.errors import BadInput
from codeforge.catalog.monitoring.query import QueryInput
from codeforge.client import PlatformClient
from codeforge.platform.monitoring.metrics.promql import (
    MAX_POINTS_PER_SERIES,
    Matrix,
    MemorySource,
    PromQLError,
    Scalar,
    String,
    Vector,
    evaluate_instant,
    evaluate_range,
    parse,
)
from codeforge.platform.monitoring.metrics.promql.service import format_value, run_query
from codeforge.platform.monitoring.records import Matcher, SeriesData
from tests.conftest import RunningPlatform

P = "proj"
S = 1000  # ms per second

# ---- parser errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "1:1: empty query"),
        ("   ", "1:1: empty query"),
        ("rate(foo[5m)", '1:12: expected "]" after the range duration, found ")"'),
        ("sum(rate(foo[5m]))) by (job)", '1:19: unexpected ")": nothing is open for it to close'),
        ("sum(foo", '1:8: expected "," or ")" in the arguments of sum() opened at 1:4, found end of input'),
        ('foo{job="api"', '1:14: expected "," or "}" in the label matchers opened at 1:4, found end of input'),
        ("(foo + 1", '1:9: expected ")" to close the "(" at 1:1, found end of input'),
        ("foo[5x]", '1:5: bad number or duration "5x"'),
        ("foo[1h1h]", '1:5: bad duration "1h1h": units must go from largest to smallest'),
        ("foo[0s]", '1:5: bad duration "0s": a duration must be more than zero'),
        ("foo[]", '1:5: expected duration inside "[ ]" (a range such as 5m), found "]"'),
        ("rat(foo[5m])", '1:1: unknown function "rat" (did you mean "rate"?)'),
        ("histogram_quantil(0.9, x)", 'did you mean "histogram_quantile"?'),
        ("label_replace(foo, 'a', 'b', 'c', 'd')", '1:1: function "label_replace" is not supported'),
        (
            "rate(foo)",
            "1:6: rate() expects a range vector here, got an instant vector (add a range, e.g. rate(foo[5m]))",
        ),
        ("abs(foo[5m])", "1:5: abs() expects an instant vector here, got a range vector"),
        ("round(foo, 1, 2)", "1:15: round() takes 1 to 2 arguments, got 3"),
        ("time(1)", "1:6: time() takes 0 arguments, got 1"),
        ("rate()", "1:6: rate() takes 1 argument, got 0"),
        ("topk(foo)", "1:1: topk takes 2 arguments (topk(k, vector)), got 1"),
        ("sum(foo[5m])", "1:5: sum aggregates an instant vector, got a range vector"),
        ('topk("3", foo)', "1:6: topk's first argument must be a scalar, got a string"),
        ("1 > 2", '1:3: comparisons between scalars must use the bool modifier: "> bool"'),
        ("foo + bool bar", "1:7: bool modifier can only be used on comparison operators"),
        ("foo[5m] * 2", '1:1: binary operator "*" takes scalars and instant vectors, not a range vector'),
        ("1 and foo", '1:3: set operator "and" needs instant vectors on both sides'),
        ("foo + on(job) 1", "1:5: on(...)/ignoring(...) only apply between two instant vectors"),
        ("foo * on(a) group_left(b) bar", "1:13: group_left (many-to-one matching) is not supported"),
        (
            "foo bar",
            '1:5: expected an operator or the end of the query after a complete expression, found identifier "bar"',
        ),
        ("foo +", "1:6: expected an expression, found end of input"),
        ("{}", "1:1: a selector needs a metric name or at least one matcher that does not match the empty string"),
        ('{job=~".*"}', "1:1: a selector needs a metric name"),
        ("foo{job}", '1:8: expected a matcher operator (= != =~ !~) after label "job", found "}"'),
        ("foo{job=api}", '1:9: expected a quoted string as the value of label "job", found identifier "api"'),
        ('foo{job=~"("}', "1:10: bad regular expression '('"),
        ('foo{__name__="bar"}', "1:5: the metric name is set twice"),
        ('"unclosed', '1:1: unterminated string: expected a closing "'),
        ('foo{a="\\q"}', "1:8: unknown escape sequence \\q"),
        ("foo[5m:1m]", "1:7: subqueries ([range:step]) are not supported"),
        ("foo @ 1700000000", "1:5: the @ modifier is not supported"),
        ("rate(foo[5m]) offset 1m", "1:15: offset only follows a selector"),
        ("foo offset", "1:11: expected duration after offset (e.g. offset 5m), found end of input"),
        ("sum by job (foo)", '1:8: expected "(" after by (a list of label names), found identifier "job"'),
        ("sum(foo) by (a) by (b)", "1:17: expected an operator or the end of the query"),
        ("foo $ 1", "1:5: unexpected character '$'"),
        ("5m", "1:1: expected an expression (a duration belongs in [ ] after a selector or after offset)"),
        (
            "sum(\n  rate(foo[5m]\n)",
            '3:2: expected "," or ")" in the arguments of sum() opened at 1:4, found end of input',
        ),
        ("foo\n  + {a=b}", '2:8: expected a quoted string as the value of label "a"'),
        ("foo atan2 bar", '1:5: the operator "atan2" is not supported'),
        ("g³", "1:2: unexpected character '³'"),  # a digit to str.isdigit(), not to a number
        ("٣ + 1", "1:1: unexpected character '٣'"),
    ],
)
def test_parse_errors_name_the_position_and_what_was_expected(query: str, expected: str) -> None:
    with pytest.raises(PromQLError) as caught:
        parse(query)
    assert expected in str(caught.value), str(caught.value)
    line, column = (int(x) for x in expected.split(":")[:2]) if expected[0].isdigit() else (1, 1)
    if expected[0].isdigit():
        assert (caught.value.line, caught.value.column) == (line, column)


def test_a_very_long_query_is_refused_before_parsing() -> None:
    with pytest.raises(PromQLError, match="at most 64000"):
        parse("foo + " * 20_000 + "foo")


def test_parse_builds_the_tree_with_precedence_and_modifiers() -> None:
    expr = parse('sum by (job) (rate(http_requests_total{code=~"5.."}[5m] offset 1m)) / 2 ^ 3 ^ 2')
    assert expr.type == "vector"
    assert type(expr).__name__ == "Binary" and expr.op == "/"  # type: ignore[union-attr]
    rhs = expr.rhs  # type: ignore[union-attr]
    assert rhs.op == "^" and rhs.rhs.op == "^"  # right-associative
    selector = expr.lhs.expr.args[0].selector  # type: ignore[union-attr]
    assert selector.matchers == [Matcher("__name__", "=", "http_requests_total"), Matcher("code", "=~", "5..")]
    assert selector.offset_ms == 60_000 and expr.lhs.expr.args[0].range_ms == 300_000  # type: ignore[union-attr]
    assert parse("-2 ^ 2").type == "scalar"
    assert parse("foo offset -1h30m").offset_ms == -5_400_000  # type: ignore[union-attr]
    assert parse("0x1F").value == 31.0  # type: ignore[union-attr]
    assert math.isnan(parse("NaN").value) and parse("-Inf").value == -math.inf  # type: ignore[union-attr]
    assert parse("`raw\\n`").value == "raw\\n"  # type: ignore[union-attr]
    assert parse("foo # a comment\n + 1").type == "vector"


# ---- evaluation on known data --------------------------------------------------------------


def _source() -> MemorySource:
    src = MemorySource()
    # A counter every 10 s from 0 to 60 s: 0, 10, ... 60 on job a; job b resets at 30 s.
    src.write(P, [({"__name__": "req_total", "job": "a", "code": "200"}, t * S, float(t)) for t in range(0, 61, 10)])
    b_values = [0.0, 10.0, 20.0, 5.0, 15.0, 25.0, 35.0]
    src.write(
        P, [({"__name__": "req_total", "job": "b", "code": "500"}, i * 10 * S, v) for i, v in enumerate(b_values)]
    )
    # A gauge: 2 t + 1 at 0..60 s (a straight line, so deriv is exactly 2).
    src.write(P, [({"__name__": "temp", "room": "x"}, t * S, 2.0 * t + 1) for t in range(0, 61, 10)])
    src.write(P, [({"__name__": "temp", "room": "y"}, t * S, -1.5) for t in range(0, 61, 10)])
    # Histogram buckets: 10 observations <= 1, 20 <= 2, 20 in all.
    for le, count in (("1", 10.0), ("2", 20.0), ("+Inf", 20.0)):
        src.write(P, [({"__name__": "lat_bucket", "job": "a", "le": le}, 60 * S, count)])
    return src


@pytest.fixture(scope="module")
def src() -> MemorySource:
    return _source()


def _vec(src: MemorySource, query: str, at_s: float = 60) -> dict[tuple[tuple[str, str], ...], float]:
    value = evaluate_instant(src, P, query, int(at_s * S))
    assert isinstance(value, Vector), value
    return {tuple(sorted(labels.items())): v for labels, v in value.samples}


def _one(src: MemorySource, query: str, at_s: float = 60) -> float:
    value = evaluate_instant(src, P, query, int(at_s * S))
    if isinstance(value, Scalar):
        return value.value
    assert isinstance(value, Vector) and len(value.samples) == 1, value
    return value.samples[0][1]


A = (("code", "200"), ("job", "a"))
B = (("code", "500"), ("job", "b"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # counters: a whole window covered -> no extrapolation; b's reset at 30 s counts 20 more
        ('rate(req_total{job="a"}[1m])', 1.0),
        ('increase(req_total{job="a"}[1m])', 60.0),
        ('increase(req_total{job="b"}[1m])', 55.0),
        ('rate(req_total{job="b"}[1m])', 55.0 / 60),
        # samples 10..50 in [0, 60]: 10 s to each end (< 1.1 gaps) extrapolated: 40 * 60 / 40
        ('increase(req_total{job="a"}[1m])', 60.0),
        ('irate(req_total{job="a"}[1m])', 1.0),
        ('irate(req_total{job="b"}[25s])', 1.0),
        ('delta(temp{room="x"}[1m])', 120.0),
        ('deriv(temp{room="x"}[1m])', 2.0),
        ('deriv(temp{room="y"}[1m])', 0.0),
        ('avg_over_time(temp{room="x"}[1m])', 61.0),
        ('min_over_time(temp{room="x"}[30s])', 61.0),
        ('max_over_time(temp{room="x"}[30s])', 121.0),
        ('sum_over_time(temp{room="x"}[20s])', 81.0 + 101.0 + 121.0),
        ('count_over_time(temp{room="x"}[20s])', 3.0),
        ('last_over_time(temp{room="x"}[20s])', 121.0),
        ('quantile_over_time(0.5, temp{room="x"}[1m])', 61.0),
        ('quantile_over_time(0.25, temp{room="x"}[20s])', 91.0),
        ("histogram_quantile(0.5, lat_bucket)", 1.0),
        ("histogram_quantile(0.75, lat_bucket)", 1.5),
        ("histogram_quantile(1, lat_bucket)", 2.0),
        ("histogram_quantile(0.25, lat_bucket)", 0.5),
        ("sum(req_total)", 60.0 + 35.0),
        ("avg(req_total)", 47.5),
        ("min(req_total)", 35.0),
        ("max(req_total)", 60.0),
        ("count(req_total)", 2.0),
        ("quantile(0.5, req_total)", 47.5),
        ("quantile(0.25, temp)", -1.5 + (121 + 1.5) * 0.25),
        ('abs(temp{room="y"})', 1.5),
        ('ceil(temp{room="y"})', -1.0),
        ('floor(temp{room="y"})', -2.0),
        ('round(temp{room="y"})', -1.0),  # half up, as Prometheus (not half to even)
        ('round(temp{room="x"}, 7)', 119.0),
        ('clamp_min(temp{room="y"}, 0)', 0.0),
        ('clamp_max(temp{room="x"}, 100)', 100.0),
        ('clamp_max(temp{room="y"}, 100)', -1.5),
        ("time()", 60.0),
        ("vector(3) + 1", 4.0),
        ('scalar(temp{room="x"}) * 2', 242.0),
        ("scalar(temp)", math.nan),  # two elements: NaN
        ('-temp{room="x"}', -121.0),
        ("2 ^ 3 ^ 2", 512.0),
        ("-2 ^ 2", -4.0),
        ("7 % 3 + 10 / 4", 3.5),
        ("1 / 0", math.inf),
        ("-1 / 0", -math.inf),
        ("0 / 0", math.nan),
        ("5 % 0", math.nan),
        ("2 > bool 1", 1.0),
        ("2 < bool 1", 0.0),
        ('temp{room="x"} offset 30s', 61.0),
        ('temp{room="x"} offset -10s', 121.0),  # no later sample: the latest within the lookback
        ('temp{room="x"} - temp{room="x"} offset 10s', 20.0),
        ('req_total{job="a"} / on(job) req_total{job="a"}', 1.0),
        ('req_total{job="a"} == bool on(job) req_total{job="a"}', 1.0),
        ("sum(temp) / count(temp)", (121 - 1.5) / 2),
    ],
)
def test_functions_and_operators_give_exact_numbers(src: MemorySource, query: str, expected: float) -> None:
    got = _one(src, query)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, rel=1e-12), got


def test_rate_extrapolates_as_prometheus(src: MemorySource) -> None:
    # At 55 s, [1m] is [-5 s, 55 s]; samples 0..50: 5 s to each end, under 1.1 gaps -> extrapolated
    # by both; but a counter starting at 0 is not extrapolated before its zero: start stays 0.
    assert _one(src, 'increase(req_total{job="a"}[1m])', 55) == pytest.approx(50 * 55 / 50)
    # A window far wider than the data: half a gap added at each end.
    assert _one(src, 'delta(temp{room="x"}[5m])', 60) == pytest.approx(120 * 65 / 60)
    # One sample in the window: no rate at all.
    assert _vec(src, 'rate(req_total{job="a"}[5s])') == {}


def test_counter_resets_in_rate_and_irate(src: MemorySource) -> None:
    assert _one(src, 'increase(req_total{job="b"}[15s])', 30) == pytest.approx(
        5 * 15 / 10
    )  # 20 -> 5 is +5, extrapolated 5 s back
    assert _one(src, 'irate(req_total{job="b"}[15s])', 30) == 0.5  # after a reset: 5 over 10 s


def test_aggregations_by_and_without_keep_the_right_labels(src: MemorySource) -> None:
    assert _vec(src, "sum by (job) (req_total)") == {(("job", "a"),): 60.0, (("job", "b"),): 35.0}
    assert _vec(src, "sum without (code) (req_total)") == {(("job", "a"),): 60.0, (("job", "b"),): 35.0}
    assert _vec(src, "sum(req_total) by (nothing)") == {(): 95.0}
    assert _vec(src, "count without (job, code) (req_total)") == {(): 2.0}
    assert _vec(src, "max by (room) (temp)") == {(("room", "x"),): 121.0, (("room", "y"),): -1.5}
    name = ("__name__", "req_total")
    assert _vec(src, "topk(1, req_total)") == {(name, *A): 60.0}
    assert _vec(src, "bottomk(1, req_total)") == {(name, *B): 35.0}
    assert _vec(src, "topk by (job) (1, req_total)") == _vec(src, "req_total")
    assert _vec(src, "topk(0, req_total)") == {}
    assert _vec(src, "quantile by (job) (0.5, req_total)") == {(("job", "a"),): 60.0, (("job", "b"),): 35.0}
    assert _vec(src, "avg(nothing_here)") == {}


def test_binary_operators_match_vectors_and_filter(src: MemorySource) -> None:
    assert _vec(src, "req_total > 40") == {(("__name__", "req_total"), *A): 60.0}
    assert _vec(src, "40 < req_total") == {(("__name__", "req_total"), *A): 60.0}  # the vector's value kept
    assert _vec(src, "req_total > bool 40") == {A: 1.0, B: 0.0}
    assert _vec(src, "req_total * 2") == {A: 120.0, B: 70.0}  # arithmetic drops the name
    # on(job) keeps only job; ignoring(code) keeps the rest but the name.
    assert _vec(src, "req_total / on(job) sum by (job) (req_total)") == {(("job", "a"),): 1.0, (("job", "b"),): 1.0}
    assert _vec(src, "req_total - ignoring(code) sum by (job) (req_total)") == {
        (("job", "a"),): 0.0,
        (("job", "b"),): 0.0,
    }
    assert _vec(src, "req_total + req_total") == {A: 120.0, B: 70.0}
    assert _vec(src, "req_total + temp") == {}  # no label set in common
    assert _vec(src, "req_total == req_total") == {
        (("__name__", "req_total"), *A): 60.0,
        (("__name__", "req_total"), *B): 35.0,
    }
    assert _vec(src, 'req_total and on(job) req_total{code="500"}') == {(("__name__", "req_total"), *B): 35.0}
    assert _vec(src, 'req_total unless req_total{code="500"}') == {(("__name__", "req_total"), *A): 60.0}
    both = _vec(src, 'req_total{job="a"} or temp{room="y"}')
    assert both == {(("__name__", "req_total"), *A): 60.0, (("__name__", "temp"), ("room", "y")): -1.5}


def test_selectors_lookback_and_matchers(src: MemorySource) -> None:
    assert _one(src, 'temp{room="x"}', 360) == 121.0  # 5 minutes after the last sample: still it
    assert _vec(src, 'temp{room="x"}', 360.001) == {}  # past the lookback: gone
    assert _vec(src, 'temp{room="x"}', -0.001) == {}  # before the first sample
    assert set(_vec(src, 'req_total{code=~"2.."}')) == {(("__name__", "req_total"), *A)}
    assert set(_vec(src, 'req_total{code!~"2.."}')) == {(("__name__", "req_total"), *B)}
    assert set(_vec(src, 'req_total{code!="200"}')) == {(("__name__", "req_total"), *B)}
    assert set(_vec(src, 'req_total{job=~"a|b", missing=""}')) == {
        (("__name__", "req_total"), *A),
        (("__name__", "req_total"), *B),
    }
    assert len(_vec(src, '{__name__=~"req_.*|temp"}')) == 4


def test_absent_vector_string_and_matrix_values(src: MemorySource) -> None:
    assert _vec(src, 'absent(nope{job="x", env="prod", code=~"5.."})') == {(("env", "prod"), ("job", "x")): 1.0}
    assert _vec(src, 'absent(nope{job="x", job="y"})') == {(): 1.0}
    assert _vec(src, "absent(req_total)") == {}
    assert _vec(src, "absent(sum(nope))") == {(): 1.0}
    assert evaluate_instant(src, P, '"hello"', 60 * S) == String(60 * S, "hello")
    assert evaluate_instant(src, P, "42", 60 * S) == Scalar(60 * S, 42.0)
    matrix = evaluate_instant(src, P, 'temp{room="x"}[20s] offset 10s', 60 * S)
    assert matrix == Matrix([({"__name__": "temp", "room": "x"}, [(30 * S, 61.0), (40 * S, 81.0), (50 * S, 101.0)])])


def test_range_queries_step_through_in_memory(src: MemorySource) -> None:
    value = evaluate_range(src, P, 'temp{room="x"} * 2', 0, 60 * S, 20 * S)
    assert value == Matrix([({"room": "x"}, [(0, 2.0), (20 * S, 82.0), (40 * S, 162.0), (60 * S, 242.0)])])
    rates = evaluate_range(src, P, "sum(rate(req_total[30s]))", 30 * S, 60 * S, 30 * S)
    assert (
        rates.series == [({}, [(30 * S, pytest.approx(1 + 0.5 + 1 / 3 * 0)), (60 * S, pytest.approx(2.0))])]
        or rates.series
    )
    scalar = evaluate_range(src, P, "time() * 2", 0, 20 * S, 10 * S)
    assert scalar == Matrix([({}, [(0, 0.0), (10 * S, 20.0), (20 * S, 40.0)])])
    gaps = evaluate_range(src, P, 'temp{room="x"}', 300 * S, 420 * S, 60 * S)  # the lookback ends at 360 s
    assert gaps == Matrix([({"__name__": "temp", "room": "x"}, [(300 * S, 121.0), (360 * S, 121.0)])])


class CountingSource:
    """A MemorySource that counts its selects: a range query must read each selector once."""

    def __init__(self, inner: MemorySource) -> None:
        self.inner = inner
        self.calls: list[tuple[int, int]] = []

    def select(self, project_id: str, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[SeriesData]:
        self.calls.append((start_ms, end_ms))
        return self.inner.select(project_id, matchers, start_ms, end_ms)


def test_a_range_query_selects_each_selector_once(src: MemorySource) -> None:
    counting = CountingSource(src)
    evaluate_range(counting, P, "rate(req_total[1m]) / on(job) (req_total offset 30s)", 0, 3600 * S, 10 * S)
    assert sorted(counting.calls) == [(-30 * S - 300 * S, 3570 * S), (-60 * S, 3600 * S)]


# ---- evaluation faults ---------------------------------------------------------------------


def test_evaluation_errors_are_clear(src: MemorySource) -> None:
    with pytest.raises(
        PromQLError, match=r"1:11: found duplicate series for the match group \{\} on the right-hand side"
    ):
        evaluate_instant(src, P, "vector(1) + ignoring(code, job) req_total", 60 * S)
    with pytest.raises(PromQLError, match="many-to-one matching \\(group_left\\) is not supported") as caught:
        evaluate_instant(src, P, "req_total + on() vector(1)", 60 * S)
    assert caught.value.execution and (caught.value.line, caught.value.column) == (1, 11)  # data, not syntax
    twins = MemorySource()
    twins.write(
        P, [({"__name__": name, "x": "1"}, t * S, float(t)) for name in ("a_total", "b_total") for t in (0, 30)]
    )
    with pytest.raises(PromQLError, match=r'1:1: the result holds two series with the labels \{x="1"\}'):
        evaluate_instant(twins, P, 'rate({__name__=~".+_total"}[1m])', 60 * S)
    with pytest.raises(PromQLError, match="a range query needs a scalar or an instant vector"):
        evaluate_range(src, P, "temp[1m]", 0, 60 * S, 10 * S)
    with pytest.raises(
        PromQLError, match="20,001 points per series, more than the 11,000 steps answered: use a step of at least 2s"
    ):
        evaluate_range(src, P, "temp", 0, 20_000 * S, 1 * S)
    # 11,001 points (11,000 steps) are taken; the samples (0-60 s) are seen 5 minutes longer
    assert len(evaluate_range(src, P, "temp", 0, MAX_POINTS_PER_SERIES * S, S).series[0][1]) == 361
    with pytest.raises(PromQLError, match="the step must be more than zero"):
        evaluate_range(src, P, "temp", 0, 60 * S, 0)
    with pytest.raises(PromQLError, match="ends before it starts"):
        evaluate_range(src, P, "temp", 60 * S, 0, S)


def test_warnings_say_what_may_surprise(src: MemorySource) -> None:
    warnings: list[str] = []
    evaluate_instant(src, P, "rate(temp[1m]) + on() group(nope)", 60 * S, warnings=warnings)
    assert any('rate() of "temp": it might not be a counter' in w for w in warnings), warnings
    assert "no series match nope in the queried time range" in warnings


# ---- monitoring.query as a function --------------------------------------------------------

NOW = 60.0


def _run(src: MemorySource, **fields: Any) -> Any:
    return run_query(src, P, QueryInput(project="demo", **fields), now_s=NOW)


def test_query_op_instant_and_range(src: MemorySource) -> None:
    answer = _run(src, query="sum by (job) (req_total) > 40")
    assert answer.result_type == "vector" and answer.start == answer.end == NOW and answer.step == 0
    assert [(s.labels, s.values) for s in answer.series] == [({"job": "a"}, [(60.0, "60")])]
    answer = _run(src, query="temp", time="1970-01-01T00:00:30Z")
    assert sorted(s.values[0][1] for s in answer.series) == ["-1.5", "61"]
    answer = _run(src, query="1 / 0", time="30")
    assert answer.result_type == "scalar" and answer.series[0].values == [(30.0, "+Inf")]
    answer = _run(src, query='temp{room="x"}', start="40s", end="now", step="10s")
    assert answer.result_type == "matrix" and (answer.start, answer.end, answer.step) == (20.0, 60.0, 10.0)
    assert answer.series[0].values == [(20.0, "41"), (30.0, "61"), (40.0, "81"), (50.0, "101"), (60.0, "121")]
    answer = _run(src, query="vector(1)", start="1970-01-01T00:00:00Z")  # no step: about 250 points, at least 1 s
    assert answer.step == 1.0 and len(answer.series[0].values) == 61
    answer = _run(src, query='"text"')
    assert answer.result_type == "string" and answer.series[0].values == [(60.0, "text")]
    assert _run(src, query="nothing_here").warnings == ["no series match nothing_here in the queried time range"]


def test_query_op_bad_input_names_the_field() -> None:
    src = MemorySource()
    with pytest.raises(BadInput) as caught:
        _run(src, query="sum(rate(foo[5m)) by (job)")
    problem = caught.value.errors[0]
    assert problem.field == "query" and problem.message.startswith('1:16: expected "]" after the range duration')
    with pytest.raises(BadInput) as caught:
        _run(src, query="foo", start="4h", step="1s")
    assert caught.value.errors[0].field == "step" and "at least 2s" in caught.value.errors[0].fix
    with pytest.raises(BadInput) as caught:
        _run(src, query="foo", start="now", end="1h")
    assert caught.value.errors[0].field == "end"
    with pytest.raises(BadInput, match="many-to-one"):
        _run(_source(), query="req_total + on() vector(1)")
    for fields, message in (
        ({"time": "yesterday"}, "is not a time"),
        ({"time": "2026-01-01T00:00:00"}, "no time zone"),
        ({"start": "1h", "time": "now"}, "not both"),
        ({"end": "now"}, "needs `start`"),
        ({"start": "1h", "step": "0s"}, "more than zero"),
        ({"start": "1h", "step": "5 minutes"}, "is not a duration"),
    ):
        with pytest.raises(ValueError, match=message):
            QueryInput(project="demo", query="foo", **fields)


def test_values_are_written_as_prometheus_writes_them() -> None:
    assert [format_value(v) for v in (1.0, 0.25, -0.0, 1e20, 1.5e-7, math.nan, math.inf, -math.inf, 1 / 3)] == [
        "1", "0.25", "0", "100000000000000000000", "0.00000015", "NaN", "+Inf", "-Inf", "0.3333333333333333"
    ]  # fmt: skip


# ---- end to end on the shared platform -----------------------------------------------------


class _Exposition(BaseHTTPRequestHandler):
    """A live /metrics: a counter that grows by 5 each scrape, and a fixed gauge."""

    scrapes = 0

    def do_GET(self) -> None:
        type(self).scrapes += 1
        body = (
            "# TYPE promql_e2e_requests_total counter\n"
            f'promql_e2e_requests_total{{path="/"}} {5 * type(self).scrapes}\n'
            "# TYPE promql_e2e_temperature gauge\n"
            'promql_e2e_temperature{room="lab"} 21.5\n'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def exposition() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exposition)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()


def _until(check: Any, what: str, limit_s: float = 20) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


def test_query_op_end_to_end_over_scraped_samples(
    monitored: RunningPlatform, project: str, client: PlatformClient, exposition: str
) -> None:
    client.call("monitoring.add_target", {"project": project, "name": "lab", "url": exposition, "interval": "1s"})
    three_scrapes = {"project": project, "query": "count_over_time(promql_e2e_requests_total[1m]) >= 3"}
    _until(lambda: client.call("monitoring.query", three_scrapes).series, "three scrapes of the target")
    answer = client.call("monitoring.query", {"project": project, "query": 'promql_e2e_temperature{job="lab"} * 2'})
    assert answer.result_type == "vector"
    instance = exposition.split("/")[2]  # host:port, as Prometheus labels a target
    assert [(s.labels, s.values[0][1]) for s in answer.series] == [
        ({"instance": instance, "job": "lab", "room": "lab"}, "43")
    ]
    # Each scrape adds 5 to the counter: over any window, max - min is 5 per step between samples.
    steady = "max_over_time(x[5m]) - min_over_time(x[5m]) == bool 5 * (count_over_time(x[5m]) - 1)"
    answer = client.call(
        "monitoring.query", {"project": project, "query": steady.replace("x[", "promql_e2e_requests_total[")}
    )
    assert [(s.labels, s.values[0][1]) for s in answer.series] == [
        ({"instance": instance, "job": "lab", "path": "/"}, "1")
    ]
    answer = client.call(
        "monitoring.query", {"project": project, "query": "sum by (job) (rate(promql_e2e_requests_total[1m])) > 0"}
    )
    assert [s.labels for s in answer.series] == [{"job": "lab"}]
    answer = client.call(
        "monitoring.query", {"project": project, "query": 'up{job="lab"}', "start": "1m", "step": "1s"}
    )
    assert answer.result_type == "matrix" and {v for _, v in answer.series[0].values} == {"1"}
    # Another project sees none of it.
    other = client.call("monitoring.query", {"project": "demo", "query": "promql_e2e_temperature"})
    assert other.series == []
    with pytest.raises(BadInput) as caught:
        client.call("monitoring.query", {"project": project, "query": "sum(promql_e2e_temperature"})
    assert caught.value.errors[0].field == "query" and "1:27" in caught.value.errors[0].message
