"""CodeForge's PromQL against a real Prometheus (Debian's `prometheus` and `promtool`) on the
same samples: an OpenMetrics file becomes TSDB blocks (`promtool tsdb create-blocks-from
openmetrics`), a Prometheus with no scrape jobs serves them, and each query's instant and range
answers from its HTTP API must equal the evaluator's over the same samples, held both by a
MemorySource and by the platform's own MetricsStore (SQLite)."""

from __future__ import annotations

import math
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from codeforge.platform.monitoring.metrics.promql import (
    Matrix,
    MemorySource,
    PromQLError,
    Scalar,
    SeriesSource,
    Value,
    Vector,
    evaluate_instant,
    evaluate_range,
)
from codeforge.platform.monitoring.runtime import Monitoring
from codeforge.platform.settings import Settings
from tests.conftest import free_port, require

PROJECT = "p1"
T0 = 1_700_000_000  # seconds; the data spans an hour from here, a sample every 15 s
STEP_S = 15
SAMPLES = 241
AT_S = T0 + 3000  # the instant queries' time
RANGE = (T0 + 600, T0 + 3600, 60)  # the range queries' start, end, step (seconds)

QUERIES = [
    "http_requests_total",
    "rate(http_requests_total[5m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    "increase(http_requests_total[10m])",
    "irate(http_requests_total[1m])",
    "delta(temperature[10m])",
    "deriv(temperature[10m])",
    "avg_over_time(temperature[10m])",
    "min_over_time(temperature[7m]) + max_over_time(temperature[7m])",
    "sum_over_time(temperature[3m]) - count_over_time(temperature[3m])",
    "quantile_over_time(0.9, temperature[10m])",
    "last_over_time(sporadic[10m])",
    "count_over_time(sporadic[10m])",
    "histogram_quantile(0.9, sum by (le, job) (rate(latency_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(latency_seconds_bucket[10m]))",
    "http_requests_total > 2000",
    "http_requests_total > bool 2000",
    "2000 < http_requests_total",
    "topk(2, http_requests_total)",
    "bottomk(1, temperature)",
    "quantile(0.3, temperature)",
    "avg(temperature) - min(temperature) * max without (room) (temperature)",
    "count by (job) (http_requests_total)",
    'rate(http_requests_total{code="500"}[5m]) / on (job) sum by (job) (rate(http_requests_total[5m]))',
    'http_requests_total{instance!="b"} / ignoring (code, instance) group(http_requests_total) by (job)',
    "abs(temperature - 20) + ceil(temperature) - floor(temperature)",
    "round(temperature, 0.5) + round(temperature)",
    "clamp_min(temperature, 20) + clamp_max(temperature, 21)",
    "sporadic",
    "sporadic offset 10m",
    "rate(http_requests_total[5m] offset 2m)",
    "scalar(sum(temperature)) * 2 + time()",
    "vector(1) + scalar(temperature)",
    'absent(nonexistent{job="x", code=~"5.."})',
    "absent(temperature)",
    "-temperature % 3 ^ 2",
    'http_requests_total unless http_requests_total{code="500"} or temperature',
    'http_requests_total and on (job) http_requests_total{code="500"}',
    "temperature == bool 20",
    "(temperature > 19.5) < 21.5",
    "1 + 2 * 3 ^ 2 ^ 0.5 / 4",
]


def _series() -> list[tuple[dict[str, str], list[float]]]:
    rng = random.Random(14)
    series: list[tuple[dict[str, str], list[float]]] = []
    for job, instance, code, step_mean in (("api", "a", "200", 7), ("api", "b", "500", 2), ("web", "c", "200", 4)):
        value, values = 0.0, []
        for i in range(SAMPLES):
            if instance == "a" and i == 120:
                value = 3.0  # a counter reset: the process restarted
            value += rng.randint(0, step_mean * 2)
            values.append(value)
        series.append(({"__name__": "http_requests_total", "job": job, "instance": instance, "code": code}, values))
    for room in ("x", "y"):
        temps = [round(20 + 2 * math.sin(i / 9) + rng.random() + (room == "y"), 3) for i in range(SAMPLES)]
        series.append(({"__name__": "temperature", "room": room}, temps))
    for job in ("api", "web"):
        cumulative = dict.fromkeys(("0.1", "0.5", "1", "+Inf"), 0.0)
        rows: dict[str, list[float]] = {le: [] for le in cumulative}
        for _ in range(SAMPLES):
            observed = [rng.expovariate(3) for _ in range(rng.randint(0, 12))]
            for le in cumulative:
                cumulative[le] += sum(1 for o in observed if o <= float(le))
                rows[le].append(cumulative[le])
        for le, values in rows.items():
            series.append(({"__name__": "latency_seconds_bucket", "job": job, "le": le}, values))
    return series


def _sporadic() -> list[tuple[int, float]]:
    """Samples with gaps longer than the 5-minute lookback."""
    return [(T0 + s, float(v)) for v, s in enumerate((0, 60, 120, 900, 915, 1800, 2400, 2700, 2790))]


def _openmetrics() -> str:
    lines = []
    for labels, values in _series():
        name = labels["__name__"]
        rest = ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
        lines += [f"{name}{{{rest}}} {v!r} {T0 + i * STEP_S}" for i, v in enumerate(values)]
    lines += [f'sporadic{{job="api"}} {v!r} {t}' for t, v in _sporadic()]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _fill(store: Any) -> None:
    for labels, values in _series():
        store.write(PROJECT, [(labels, (T0 + i * STEP_S) * 1000, v) for i, v in enumerate(values)])
    store.write(PROJECT, [({"__name__": "sporadic", "job": "api"}, t * 1000, v) for t, v in _sporadic()])


@pytest.fixture(scope="module")
def source() -> MemorySource:
    memory = MemorySource()
    _fill(memory)
    return memory


@pytest.fixture(scope="module")
def metrics_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeriesSource]:
    """The platform's MetricsStore on SQLite, holding the same samples."""
    monitoring = Monitoring(Settings(data_dir=tmp_path_factory.mktemp("metrics-store")))
    try:
        _fill(monitoring.metrics)
        yield monitoring.metrics
    finally:
        monitoring.stop()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    require(
        "prometheus", bool(shutil.which("prometheus") and shutil.which("promtool")), "prometheus/promtool not on PATH"
    )
    home = tmp_path_factory.mktemp("prometheus")
    (home / "data.om").write_text(_openmetrics())
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(home / "data.om"), str(home / "tsdb")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (home / "prometheus.yml").write_text("global: {}\nscrape_configs: []\n")
    port = free_port()
    log = (home / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=100y",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=10)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.get("/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prometheus did not start: {(home / 'prometheus.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _ask(prometheus: httpx.Client, path: str, params: dict[str, Any]) -> dict[str, Any]:
    body = prometheus.get(f"/api/v1/{path}", params=params).json()
    assert body["status"] == "success", body
    return dict(body["data"])


def _theirs(data: dict[str, Any]) -> dict[frozenset[tuple[str, str]], list[tuple[float, float]]]:
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return {frozenset(): [(float(result[0]), float(result[1]))]}
    out = {}
    for item in result:
        points = [item["value"]] if kind == "vector" else item["values"]
        out[frozenset(item["metric"].items())] = [(float(t), float(v)) for t, v in points]
    return out


def _ours(value: Value) -> dict[frozenset[tuple[str, str]], list[tuple[float, float]]]:
    if isinstance(value, Scalar):
        return {frozenset(): [(value.time_ms / 1000, value.value)]}
    if isinstance(value, Vector):
        return {frozenset(labels.items()): [(value.time_ms / 1000, v)] for labels, v in value.samples}
    assert isinstance(value, Matrix)
    return {frozenset(labels.items()): [(t / 1000, v) for t, v in points] for labels, points in value.series}


def _same(query: str, ours: dict[Any, list[tuple[float, float]]], theirs: dict[Any, list[tuple[float, float]]]) -> None:
    assert set(ours) == set(theirs), (
        f"{query}: series differ\n ours:   {sorted(map(sorted, ours))}\n theirs: {sorted(map(sorted, theirs))}"
    )
    for labels, points in theirs.items():
        mine = ours[labels]
        assert [t for t, _ in mine] == [t for t, _ in points], f"{query} {dict(labels)}: times differ"
        for (t, a), (_, b) in zip(mine, points, strict=True):
            same = (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
            assert same, f"{query} {dict(labels)} at {t}: ours {a!r}, Prometheus {b!r}"


@pytest.mark.parametrize("query", QUERIES)
def test_same_answers_as_prometheus(
    query: str, prometheus: httpx.Client, source: MemorySource, metrics_store: SeriesSource
) -> None:
    theirs = _theirs(_ask(prometheus, "query", {"query": query, "time": AT_S}))
    start, end, step = RANGE
    theirs_range = _theirs(_ask(prometheus, "query_range", {"query": query, "start": start, "end": end, "step": step}))
    for store in (source, metrics_store):
        _same(query, _ours(evaluate_instant(store, PROJECT, query, AT_S * 1000)), theirs)
        ours = evaluate_range(store, PROJECT, query, start * 1000, end * 1000, step * 1000)
        _same(query, _ours(ours), theirs_range)


def test_range_selector_as_an_instant_query(prometheus: httpx.Client, source: MemorySource) -> None:
    query = "temperature[2m] offset 1m"
    theirs = _ask(prometheus, "query", {"query": query, "time": AT_S})
    assert theirs["resultType"] == "matrix"
    _same(query, _ours(evaluate_instant(source, PROJECT, query, AT_S * 1000)), _theirs(theirs))


@pytest.mark.parametrize(
    "query",
    [
        "rate(http_requests_total)",  # a range function without a range
        "sum(http_requests_total",  # unclosed
        'http_requests_total{job="api"',  # unclosed braces
        "rat(http_requests_total[5m])",  # unknown function
        "1 > 2",  # scalar comparison without bool
        "http_requests_total[5m] + 1",  # a range vector in arithmetic
        "temperature{}[5x]",  # bad duration
    ],
)
def test_both_refuse_the_same_bad_queries(query: str, prometheus: httpx.Client, source: MemorySource) -> None:
    body = prometheus.get("/api/v1/query", params={"query": query, "time": AT_S}).json()
    assert body["status"] == "error" and body["errorType"] == "bad_data", body
    with pytest.raises(PromQLError) as caught:
        evaluate_instant(source, PROJECT, query, AT_S * 1000)
    assert caught.value.position >= 0 and str(caught.value).startswith("1:")


def test_many_to_one_is_an_error_in_both(prometheus: httpx.Client, source: MemorySource) -> None:
    query = "http_requests_total + on (job) group(http_requests_total) by (job)"
    body = prometheus.get("/api/v1/query", params={"query": query, "time": AT_S}).json()
    assert body["status"] == "error" and "many-to-one" in body["error"], body
    with pytest.raises(PromQLError, match="many-to-one"):
        evaluate_instant(source, PROJECT, query, AT_S * 1000)


def test_openmetrics_file_is_what_the_source_holds(source: MemorySource) -> None:
    """The two sides really hold the same samples: every line of the file is in the source."""
    held = {
        (frozenset(s.labels.items()), t, v)
        for s in source.select(PROJECT, [], 0, 2**62)
        for t, v in zip(s.times_ms, s.values, strict=True)
    }
    assert len(held) == len(_openmetrics().splitlines()) - 1
