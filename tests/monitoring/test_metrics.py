"""Metrics end to end on the shared platform: scrape targets served by this test (text format
and OpenMetrics), a target that hangs and one whose exposition is malformed, the series
operations and Prometheus's query API over what was stored, bad input and roles; one scrape
on PostgreSQL. The store's retention and downsampling run in process on a store of their own."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from codeforge.catalog.errors import BadInput, Conflict, NotFound, PermissionDenied
from codeforge.client import PlatformClient
from codeforge.platform.monitoring.metrics.selector import SelectorError, parse_selector
from codeforge.platform.monitoring.records import Matcher
from codeforge.platform.monitoring.runtime import Monitoring
from codeforge.platform.settings import Settings
from tests.conftest import RunningPlatform, start_platform
from tests.monitoring_platform import new_project

TEXT = """# HELP app_requests_total Requests served.
# TYPE app_requests_total counter
app_requests_total{path="/",code="200"} %d
app_requests_total{path="/",code="500"} 2
# TYPE app_temperature gauge
app_temperature{job="inner"} 21.5
"""
OPENMETRICS = """# TYPE om_events counter
om_events_total{kind="a"} %d
# TYPE om_ratio gauge
om_ratio 0.25
# EOF
"""
MALFORMED = 'good_metric 1\nbroken_metric{path="/" 3\n'


class _Exposition(BaseHTTPRequestHandler):
    hits = 0
    release = threading.Event()

    def do_GET(self) -> None:
        type(self).hits += 1
        if self.path == "/hang":
            self.release.wait(30)  # answers nothing until the test ends
            return
        body, content_type = {
            "/metrics": (TEXT % self.hits, "text/plain; version=0.0.4"),
            "/om": (OPENMETRICS % self.hits, "application/openmetrics-text; version=1.0.0; charset=utf-8"),
            "/bad": (MALFORMED, "text/plain; version=0.0.4"),
        }.get(self.path, ("not found\n", "text/plain"))
        data = body.encode()
        self.send_response(200 if content_type != "text/plain" else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def app() -> Iterator[str]:
    """An app's /metrics (text), /om (OpenMetrics), /bad (malformed) and /hang (never answers)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exposition)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _Exposition.release.set()
    server.shutdown()


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def call(client: PlatformClient, op: str, data: dict[str, Any]) -> Any:
    """The operation's answer as JSON data."""
    return client.call(op, data).model_dump(mode="json")


def targets(client: PlatformClient, project: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in call(client, "monitoring.targets", {"project": project})["items"]}


def scraped(client: PlatformClient, project: str, name: str, health: str = "up") -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = targets(client, project).get(name)
        return found if found and found["health"] == health else None

    return wait_for(f"target {name} {health}", probe)  # type: ignore[no-any-return]


def prometheus_api(platform: RunningPlatform, project: str, path: str, token: str | None = "", **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {token or platform.token}"} if token is not None else {}
    return httpx.get(f"{platform.url}/prometheus/{project}/api/v1/{path}", params=params, headers=headers, timeout=30)


# ---- scraping ---------------------------------------------------------------------------


def test_text_and_openmetrics_targets_are_scraped_and_queried(
    monitored: RunningPlatform, project: str, client: PlatformClient, app: str
) -> None:
    added = call(
        client,
        "monitoring.add_target",
        {"project": project, "name": "web", "url": f"{app}/metrics", "interval": "1s", "labels": {"env": "test"}},
    )
    assert added["interval_s"] == 1.0 and added["health"] in ("unknown", "up")
    call(client, "monitoring.add_target", {"project": project, "name": "worker", "url": f"{app}/om"})
    web, worker = scraped(client, project, "web"), scraped(client, project, "worker")
    assert web["samples"] == 3 and web["last_error"] == "" and web["last_scrape"]
    assert worker["samples"] >= 2

    names = call(client, "monitoring.series", {"project": project})
    assert names["kind"] == "names"
    assert {"app_requests_total", "om_events_total", "om_ratio", "up", "scrape_duration_seconds"} <= set(
        names["values"]
    )
    found = call(client, "monitoring.series", {"project": project, "match": 'app_requests_total{code="500"}'})
    host = app.removeprefix("http://")
    assert found["series"] == [
        {"__name__": "app_requests_total", "code": "500", "env": "test", "instance": host, "job": "web", "path": "/"}
    ]
    # A scraped label the target sets itself is kept as exported_<name>, as Prometheus does.
    temperature = call(client, "monitoring.series", {"project": project, "match": "app_temperature"})["series"]
    assert temperature[0]["job"] == "web" and temperature[0]["exported_job"] == "inner"
    jobs = call(client, "monitoring.series", {"project": project, "label": "job"})
    assert jobs == {"kind": "values", "values": ["web", "worker"], "series": [], "truncated": False}

    # Prometheus's HTTP API over the same store.
    series = prometheus_api(monitored, project, "series", **{"match[]": 'up{job=~"w.*"}'}).json()
    assert series["status"] == "success" and {s["job"] for s in series["data"]} == {"web", "worker"}
    assert "env" in prometheus_api(monitored, project, "labels").json()["data"]
    values = prometheus_api(monitored, project, "label/job/values", **{"match[]": "om_ratio"}).json()
    assert values == {"status": "success", "data": ["worker"]}
    up = prometheus_api(monitored, project, "query", query='up{job="web"}').json()
    assert up["data"]["resultType"] == "vector" and up["data"]["result"][0]["value"][1] == "1"
    now = time.time()
    ranged = httpx.post(
        f"{monitored.url}/prometheus/{project}/api/v1/query_range",
        data={
            "query": 'sum by (job) (scrape_samples_scraped{job="worker"})',
            "start": now - 60,
            "end": now,
            "step": "5s",
        },
        headers={"Authorization": f"Bearer {monitored.token}"},
    ).json()
    assert ranged["status"] == "success" and ranged["data"]["resultType"] == "matrix"
    assert ranged["data"]["result"][0]["metric"] == {"job": "worker"}
    assert ranged["data"]["result"][0]["values"][-1][1] == "2"


def test_a_hanging_target_is_marked_down_while_others_are_scraped(
    project: str, client: PlatformClient, app: str
) -> None:
    call(client, "monitoring.add_target", {"project": project, "name": "stuck", "url": f"{app}/hang", "timeout": "1s"})
    call(client, "monitoring.add_target", {"project": project, "name": "fine", "url": f"{app}/metrics"})
    stuck = scraped(client, project, "stuck", "down")
    assert "timeout" in stuck["last_error"] and "1s" in stuck["last_error"]
    first = scraped(client, project, "fine")["last_scrape"]
    # The hanging scrape holds one worker; the healthy target keeps its own cadence meanwhile.
    wait_for("another scrape of the healthy target", lambda: targets(client, project)["fine"]["last_scrape"] != first)
    assert targets(client, project)["fine"]["health"] == "up"
    up = call(client, "monitoring.series", {"project": project, "match": 'up{job="stuck"}'})["series"]
    assert len(up) == 1


def test_malformed_exposition_marks_the_target_down_with_the_parsers_message(
    project: str, client: PlatformClient, app: str
) -> None:
    call(client, "monitoring.add_target", {"project": project, "name": "broken", "url": f"{app}/bad"})
    broken = scraped(client, project, "broken", "down")
    assert broken["last_error"].startswith("malformed exposition: line 2:")
    assert "could not convert string to float" in broken["last_error"] and "broken_metric" in broken["last_error"]
    # Nothing of that scrape is stored, not even its good first line: only the synthetic series.
    names = call(client, "monitoring.series", {"project": project})["values"]
    assert "good_metric" not in names and "broken_metric" not in names
    assert {"up", "scrape_duration_seconds", "scrape_samples_scraped"} <= set(names)


def test_the_platform_target_and_removing_a_target(project: str, client: PlatformClient) -> None:
    call(client, "monitoring.add_target", {"project": project, "name": "self", "url": "platform"})
    scraped(client, project, "self")
    requests = call(
        client, "monitoring.series", {"project": project, "match": 'codeforge_http_requests_total{job="self"}'}
    )
    assert requests["series"] and all(s["instance"].startswith("127.0.0.1:") for s in requests["series"])
    assert call(client, "monitoring.remove_target", {"project": project, "name": "self"}) == {
        "name": "self",
        "removed": True,
    }
    assert targets(client, project) == {}
    with pytest.raises(NotFound, match="no scrape target named 'self'"):
        call(client, "monitoring.remove_target", {"project": project, "name": "self"})


# ---- bad input, roles, the query API's refusals -----------------------------------------


BAD_TARGETS: list[tuple[dict[str, Any], str, str]] = [
    ({"url": "ftp://example.com/metrics"}, "url", "not an http(s) URL"),
    ({"url": "localhost:9100"}, "url", "not an http(s) URL"),
    ({"url": "http:///metrics"}, "url", "names no host"),
    ({"name": "Bad Name"}, "name", "wrong form"),
    ({"interval": "15 minutes"}, "interval", "not a duration"),
    ({"interval": "5s", "timeout": "10s"}, "", "longer than interval"),
    ({"labels": {"job": "x"}}, "labels", "scraper's own"),
    ({"labels": {"1x": "y"}}, "labels", "not a label name"),
]


def test_add_target_refuses_bad_input(client: PlatformClient, project: str) -> None:
    for fields, field, says in BAD_TARGETS:
        data = {"project": project, "name": "t", "url": "http://127.0.0.1:9/metrics", **fields}
        with pytest.raises(BadInput) as refused:
            client.call("monitoring.add_target", data)
        assert says in str(refused.value), (fields, str(refused.value))
        if field:
            assert any(e.field == field for e in refused.value.errors), (fields, refused.value.errors)
    assert targets(client, project) == {}


def test_duplicates_series_input_and_roles(monitored: RunningPlatform, project: str, client: PlatformClient) -> None:
    call(client, "monitoring.add_target", {"project": project, "name": "dup", "url": "http://127.0.0.1:9/metrics"})
    with pytest.raises(Conflict, match="already has a scrape target named 'dup'"):
        call(client, "monitoring.add_target", {"project": project, "name": "dup", "url": "http://127.0.0.1:9/x"})
    with pytest.raises(BadInput) as refused:
        call(client, "monitoring.series", {"project": project, "match": 'up{job="x"'})
    assert refused.value.errors[0].field == "match" and "expected" in str(refused.value)
    with pytest.raises(BadInput, match="not a time"):
        call(client, "monitoring.series", {"project": project, "start": "yesterday"})

    call(client, "members.add", {"username": "metrics-viewer", "role": "viewer"})
    token = call(client, "tokens.create", {"name": "v", "username": "metrics-viewer"})["token"]
    viewer = PlatformClient(monitored.url, token)
    with pytest.raises(PermissionDenied):
        call(viewer, "monitoring.add_target", {"project": project, "name": "v", "url": "http://127.0.0.1:9/metrics"})
    with pytest.raises(PermissionDenied):
        call(viewer, "monitoring.remove_target", {"project": project, "name": "dup"})
    assert list(targets(viewer, project)) == ["dup"]  # viewing is allowed
    assert prometheus_api(monitored, project, "labels", token=token).json()["status"] == "success"


def test_prometheus_api_refusals(monitored: RunningPlatform, project: str) -> None:
    anonymous = prometheus_api(monitored, project, "labels", token=None)
    assert anonymous.status_code == 401 and anonymous.json()["status"] == "error"
    missing = prometheus_api(monitored, "no-such-project", "labels")
    assert missing.status_code == 404 and missing.json()["errorType"] == "not_found"
    bad = prometheus_api(monitored, project, "query", query="rate(up[5m)")
    assert bad.status_code == 400 and bad.json()["errorType"] == "bad_data" and "1:" in bad.json()["error"]
    assert prometheus_api(monitored, project, "query").json()["error"] == 'invalid parameter "query": it is required'
    no_match = prometheus_api(monitored, project, "series")
    assert no_match.status_code == 400 and "match[]" in no_match.json()["error"]
    step = prometheus_api(monitored, project, "query_range", query="up", start="0", end="100000000", step="1s")
    assert step.status_code == 400 and "maximum resolution" in step.json()["error"]
    when = prometheus_api(monitored, project, "query", query="up", time="tomorrow")
    assert when.status_code == 400 and 'invalid parameter "time"' in when.json()["error"]


# ---- PostgreSQL -------------------------------------------------------------------------


def test_scrape_and_select_on_postgres(monitored_pg: RunningPlatform, app: str) -> None:
    project = new_project(monitored_pg)
    client = PlatformClient(monitored_pg.url, monitored_pg.token)
    call(client, "monitoring.add_target", {"project": project, "name": "pg-web", "url": f"{app}/om"})
    call(client, "monitoring.add_target", {"project": project, "name": "pg-bad", "url": f"{app}/bad"})
    assert scraped(client, project, "pg-web")["samples"] >= 2
    assert "line 2" in scraped(client, project, "pg-bad", "down")["last_error"]
    found = call(client, "monitoring.series", {"project": project, "match": '{__name__=~"om_.*", job="pg-web"}'})
    assert {s["__name__"] for s in found["series"]} == {"om_events_total", "om_ratio"}
    up = prometheus_api(monitored_pg, project, "query", query="up").json()["data"]["result"]
    assert {(r["metric"]["job"], r["value"][1]) for r in up} == {("pg-web", "1"), ("pg-bad", "0")}


class _Counted(BaseHTTPRequestHandler):
    """An exposition that counts who scraped it."""

    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        data = b"counted_total 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_two_replicas_scrape_each_turn_once_and_agree_on_health(monitored_pg: RunningPlatform, tmp_path: Path) -> None:
    """A second `codeforge up` on the same PostgreSQL state: both run a scraper over the same
    targets; each turn is claimed by one of them, and both answer the same health."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    replica = start_platform(tmp_path / "replica", **monitored_pg.extra_env)
    try:
        project = new_project(monitored_pg)
        first = PlatformClient(monitored_pg.url, monitored_pg.token)
        second = PlatformClient(replica.url, monitored_pg.token)  # one state: one token table
        call(first, "monitoring.add_target",
             {"project": project, "name": "counted", "url": f"http://127.0.0.1:{server.server_port}/metrics",
              "interval": "1s"})  # fmt: skip
        scraped(first, project, "counted")
        started, before = time.monotonic(), _Counted.hits
        time.sleep(6)
        turns = (time.monotonic() - started) / 0.9  # a claim holds a turn for 0.9 of the interval
        # Two scrapers each scraping every turn would make about twice as many.
        assert _Counted.hits - before <= turns + 2, (_Counted.hits - before, turns)
        assert targets(second, project)["counted"]["health"] == "up"
        assert targets(second, project)["counted"]["last_scrape"] is not None
    finally:
        replica.stop()
        server.shutdown()


# ---- the store in process: retention, downsampling, selectors ---------------------------


def test_retention_keeps_the_last_value_of_each_step_and_then_drops_it(tmp_path: Path) -> None:
    monitoring = Monitoring(Settings(data_dir=tmp_path))
    store = monitoring.metrics
    try:
        step = monitoring.config.downsample_step_s * 1000
        base = 1_700_000_000_000 // step * step
        counter = {"__name__": "c_total", "job": "a"}
        store.write("p", [(counter, base + i * 60_000, float(i)) for i in range(10)])  # 10 minutes, 2 steps
        store.write("p", [({"__name__": "g", "job": "a"}, base, math.nan)])
        raw_hours = monitoring.config.raw_retention_h
        store.sweep(now_ms=base + int(raw_hours * 3_600_000) + 3 * step)
        kept = store.select("p", [Matcher("__name__", "=", "c_total")], 0, 2**62)
        assert kept[0].values == [4.0, 9.0]  # the last of each step: a counter stays a counter
        assert kept[0].times_ms == [base + 4 * 60_000, base + 9 * 60_000]
        assert math.isnan(
            store.select("p", [Matcher("job", "=", "a"), Matcher("__name__", "=", "g")], 0, 2**62)[0].values[0]
        )
        store.sweep(now_ms=base + int(monitoring.config.downsampled_retention_d * 86_400_000) + 3 * step)
        assert store.select("p", [Matcher("job", "=", "a")], 0, 2**62) == []
        assert store.label_names("p") == []  # series without samples are gone too
    finally:
        monitoring.stop()


def test_selectors_and_duration_parsing() -> None:
    assert parse_selector('up{job=~"a|b", code!="200"}') == [
        Matcher("__name__", "=", "up"),
        Matcher("job", "=~", "a|b"),
        Matcher("code", "!=", "200"),
    ]
    for bad, column in [('up{job="a"', 11), ("{}", 1), ('{job=~"("}', 7), ("up{1a='x'}", 4)]:
        with pytest.raises(SelectorError) as refused:
            parse_selector(bad)
        assert refused.value.column == column, (bad, str(refused.value))
