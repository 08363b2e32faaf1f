"""Monitoring's panes and dashboards against the shared `monitored` platform, with real data
sent the way apps send it: an exposition this test serves (scraped), metrics with fixed
timestamps over OTLP/JSON, JSON log lines, a trace over OTLP/JSON. Each pane is opened with
panes.open and fetched as HTML (its SVG checked against the same range query through
monitoring.query) and as text; headless Chromium renders them to test-artifacts/monitoring/.
Bad input: an unknown dashboard, trace, error group or service; a panel query that does not
parse (named by panel and column) or cannot be drawn; a viewer saving; a bad log query."""

from __future__ import annotations

import base64
import html
import json
import math
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from websockets.sync.client import connect

from codeforge.catalog.errors import BadInput, NotFound, PermissionDenied
from codeforge.client import PlatformClient
from codeforge.platform.monitoring.panes.common import series_label, step_ms
from codeforge.platform.panes.render import format_value
from tests.conftest import ROOT, RunningPlatform, require
from tests.monitoring_platform import delete_project, new_project

ARTIFACTS = ROOT / "test-artifacts" / "monitoring"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TRACE_ID = uuid.uuid4().hex
QUEUE = [3 + 2 * math.sin(i / 4) for i in range(37)]  # the gauge sent: a point every 15 s for 9 minutes
SPANS = 4  # in the trace sent, one of them an error
TRACES = 3  # sent in all (one per request), so the duration chart has three points
POLYLINE = re.compile(r'<polyline data-series="([^"]*)" stroke="[^"]*" points="([^"]*)"[^>]*/>')
CHART_SVG = re.compile(r'<h2>([^<]*)</h2><svg class="chart" [^>]*data-start-ms="(\d+)" data-end-ms="(\d+)">(.*?)</svg>')


# ---- the app's side: an exposition to scrape, OTLP and JSON lines to send ----------------


class Exposition(BaseHTTPRequestHandler):
    """A shop's /metrics: a request counter that grows on every scrape, and a histogram."""

    scrapes = 0

    def do_GET(self) -> None:
        Exposition.scrapes += 1
        n = Exposition.scrapes
        body = (
            "# TYPE shop_http_requests_total counter\n"
            f'shop_http_requests_total{{route="/cart"}} {7 * n}\n'
            f'shop_http_requests_total{{route="/pay"}} {2 * n}\n'
            "# TYPE shop_http_request_duration_seconds histogram\n"
            f'shop_http_request_duration_seconds_bucket{{le="0.05"}} {5 * n}\n'
            f'shop_http_request_duration_seconds_bucket{{le="0.25"}} {8 * n}\n'
            f'shop_http_request_duration_seconds_bucket{{le="+Inf"}} {9 * n}\n'
            f"shop_http_request_duration_seconds_sum {0.4 * n}\n"
            f"shop_http_request_duration_seconds_count {9 * n}\n"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _attrs(**values: Any) -> list[dict[str, Any]]:
    def value(v: Any) -> dict[str, Any]:
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": str(v)}

    return [{"key": k.replace("__", "."), "value": value(v)} for k, v in values.items()]


def otlp_metrics(now_ns: int) -> dict[str, Any]:
    """A gauge and a monotonic sum, one point every 15 s from 10 minutes ago to 1 minute ago."""
    times = [now_ns - (600 - 15 * i) * 1_000_000_000 for i in range(len(QUEUE))]
    gauge = [
        {"timeUnixNano": str(t), "asDouble": v, "attributes": _attrs(queue="orders")}
        for t, v in zip(times, QUEUE, strict=True)
    ]
    total = [{"timeUnixNano": str(t), "asInt": str(40 * i + i * i)} for i, t in enumerate(times)]
    return {
        "resourceMetrics": [
            {
                "resource": {"attributes": _attrs(service__name="checkout")},
                "scopeMetrics": [
                    {
                        "metrics": [
                            {"name": "shop_queue_depth", "gauge": {"dataPoints": gauge}},
                            {
                                "name": "shop_orders",
                                "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": total},
                            },
                        ]
                    }
                ],
            }
        ]
    }


def otlp_traces(now_ns: int) -> dict[str, Any]:
    """Trace TRACE_ID: GET /cart -> (SELECT cart, POST /charge -> payment call failing), and
    two more single-span traces."""
    ms = 1_000_000
    t0 = now_ns - 5_000 * ms
    root, db, charge, call = (uuid.uuid4().hex[:16] for _ in range(4))

    def span(trace: str, sid: str, parent: str, name: str, start: int, end: int, **extra: Any) -> dict[str, Any]:
        return {
            "traceId": trace,
            "spanId": sid,
            "parentSpanId": parent,
            "name": name,
            "kind": 2 if not parent else 3,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(end),
            **extra,
        }

    failing = {
        "status": {"code": 2, "message": "card declined"},
        "events": [
            {
                "timeUnixNano": str(t0 + 115 * ms),
                "name": "exception",
                "attributes": _attrs(
                    exception__type="PaymentError",
                    exception__message="card declined",
                    exception__stacktrace='Traceback (most recent call last):\n  File "/app/shop/pay.py", line 31, in charge\n'
                    "    gateway.charge(card)\nPaymentError: card declined\n",
                ),
            }
        ],
    }
    spans = [
        span(TRACE_ID, root, "", "GET /cart", t0, t0 + 180 * ms, attributes=_attrs(http__route="/cart")),
        span(TRACE_ID, db, root, "SELECT cart", t0 + 10 * ms, t0 + 50 * ms),
        span(TRACE_ID, charge, root, "POST /charge", t0 + 60 * ms, t0 + 170 * ms),
        span(TRACE_ID, call, charge, "gateway.charge", t0 + 70 * ms, t0 + 120 * ms, **failing),
    ]
    others = [
        span(
            uuid.uuid4().hex, uuid.uuid4().hex[:16], "", "GET /health", t0 - k * 1000 * ms, t0 - k * 1000 * ms + 3 * ms
        )
        for k in (1, 2)
    ]
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attrs(service__name="checkout")},
                "scopeSpans": [{"scope": {"name": "shop"}, "spans": spans + others}],
            }
        ]
    }


TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/shop/cart.py", line 12, in add\n'
    "    price = prices[item]\n"
    "KeyError: 'sku-42'"
)


def log_lines(now_ns: int) -> bytes:
    lines = [
        {"time": (now_ns - (5 - i) * 1_000_000) / 1e9, "level": "info", "message": f"served cart request {i}"}
        for i in range(4)
    ]
    lines.append(
        {"time": now_ns / 1e9, "level": "error", "message": "payment failed for order 17", "exception": TRACEBACK}
    )
    return b"\n".join(json.dumps(line).encode() for line in lines)


# ---- the platform's side ---------------------------------------------------------------------


@dataclass
class Shop:
    platform: RunningPlatform
    project: str
    client: PlatformClient
    viewer: PlatformClient

    def open(self, pane: str, item: str | None = None) -> str:
        data: dict[str, Any] = {"project": self.project, "pane": pane}
        if item is not None:
            data["item"] = item
        return str(self.client.call("panes.open", data).url)

    def page(self, pane: str, item: str | None = None, fmt: str = "html") -> str:
        url = self.open(pane, item)
        answer = httpx.get(f"{url}&format={fmt}", timeout=30)
        assert answer.status_code == 200, answer.text[:2000]
        return answer.text


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not there after {timeout_s} s"
        time.sleep(0.25)


def _send(shop: Shop, path: str, body: bytes, content_type: str) -> None:
    answer = httpx.post(
        f"{shop.platform.url}{path}",
        content=body,
        headers={"Authorization": f"Bearer {shop.platform.token}", "Content-Type": content_type},
        timeout=30,
    )
    assert answer.status_code in (200, 204), answer.text


@pytest.fixture(scope="module")
def shop(monitored: RunningPlatform) -> Iterator[Shop]:
    project = new_project(monitored, for_the_test=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Exposition)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = PlatformClient(monitored.url, monitored.token)
    viewer_name = f"viewer-{uuid.uuid4().hex[:8]}"
    client.call("members.add", {"username": viewer_name, "role": "viewer"})
    viewer = PlatformClient(
        monitored.url, client.call("tokens.create", {"name": "panes", "username": viewer_name}).token
    )
    shop = Shop(monitored, project, client, viewer)
    now_ns = time.time_ns()
    client.call(
        "monitoring.add_target",
        {"project": project, "name": "shop", "url": f"http://127.0.0.1:{server.server_port}/metrics"},
    )
    _send(shop, f"/otlp/{project}/v1/metrics", json.dumps(otlp_metrics(now_ns)).encode(), "application/json")
    _send(shop, f"/otlp/{project}/v1/traces", json.dumps(otlp_traces(now_ns)).encode(), "application/json")
    _send(shop, f"/ingest/{project}/logs?service=checkout", log_lines(now_ns), "application/x-ndjson")
    client.call(
        "monitoring.save_dashboard",
        {
            "project": project,
            "name": "checkout",
            "title": "Checkout",
            "panels": [
                {"title": "Queue depth", "query": "shop_queue_depth", "unit": ""},
                {"title": "Orders per second", "query": "rate(shop_orders_total[1m])", "unit": "/s"},
                {
                    "title": "Requests per second",
                    "query": 'sum by (route) (rate(shop_http_requests_total{job="shop"}[5s]))',
                    "unit": "req/s",
                },
            ],
        },
    )
    client.call(
        "monitoring.add_rule",
        {"project": project, "name": "QueueDeep", "expr": "shop_queue_depth", "op": ">", "value": 0},
    )
    client.call(
        "monitoring.add_rule", {"project": project, "name": "ShopUp", "expr": 'up{job="shop"}', "op": "==", "value": 1}
    )
    client.call(
        "monitoring.silence",
        {"project": project, "matchers": ["alertname=ShopUp"], "duration": "1h", "comment": "known"},
    )

    def count(query: str) -> float:
        series = client.call("monitoring.query", {"project": project, "query": query}).series
        return float(series[0].values[0][1]) if series else 0.0

    wait_for("six scrapes", lambda: count('count_over_time(up{job="shop"}[5m])') >= 6)
    wait_for("the traces", lambda: len(client.call("monitoring.traces", {"project": project}).items) >= TRACES)
    wait_for("the error groups", lambda: len(client.call("monitoring.errors", {"project": project}).items) >= 2)
    wait_for(
        "a firing alert",
        lambda: any(a.state == "firing" for a in client.call("monitoring.alerts", {"project": project}).items),
    )
    yield shop
    delete_project(monitored, project)
    server.shutdown()
    client.close()
    viewer.close()


def charts(page: str) -> dict[str, tuple[int, int, dict[str, int]]]:
    """Per chart title: its time range and, per series label, how many points its line has."""
    found = {}
    for title, start, end, body in CHART_SVG.findall(page):
        lines = {html.unescape(label): len(points.split()) for label, points in POLYLINE.findall(body)}
        found[html.unescape(title)] = (int(start), int(end), lines)
    return found


def range_points(shop: Shop, query: str, start: int, end: int) -> dict[str, int]:
    """Finite values per series of `query` evaluated as a chart over [start, end] is."""

    def rfc3339(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")

    answer = shop.client.call(
        "monitoring.query",
        {
            "project": shop.project,
            "query": query,
            "start": rfc3339(start),
            "end": rfc3339(end),
            "step": f"{step_ms(start, end)}ms",
        },
    )
    return {series_label(s.labels): sum(1 for _, v in s.values if math.isfinite(float(v))) for s in answer.series}


# ---- the panes ------------------------------------------------------------------------------


def test_dashboard_pane_draws_each_panel(shop: Shop) -> None:
    page = shop.page("dashboard", "checkout")
    drawn = charts(page)
    assert set(drawn) == {"Queue depth", "Orders per second", "Requests per second"}, drawn
    # The OTLP gauge and counter have fixed times: the lines have exactly the range query's points.
    for title, query in (("Queue depth", "shop_queue_depth"), ("Orders per second", "rate(shop_orders_total[1m])")):
        start, end, lines = drawn[title]
        assert lines == range_points(shop, query, start, end), title
        assert all(n >= 30 for n in lines.values()), lines  # ten minutes of data, not a few points at the edge
    queue = next(iter(drawn["Queue depth"][2]))
    assert 'job="checkout"' in queue and 'queue="orders"' in queue
    assert html.escape(queue) in page.split('class="legend"', 1)[1]  # the legend names each line
    routes = drawn["Requests per second"][2]
    assert set(routes) == {'{route="/cart"}', '{route="/pay"}'} and all(n >= 2 for n in routes.values()), routes
    assert "req/s</text>" in page and "UTC</text>" in page  # y ticks in the unit, the time axis
    assert "setTimeout(tick,ms)" in page and "var ms=10000" in page and 'http-equiv="refresh" content="10"' in page
    text = shop.page("dashboard", "checkout", "text")
    assert "refresh: 10 s" in text
    stats = " ".join(
        f"{k} {format_value(v)}" for k, v in (("min", min(QUEUE)), ("max", max(QUEUE)), ("last", QUEUE[-1]))
    )
    queue_line = next(line for line in text.splitlines() if line.startswith("shop_queue_depth{"))
    assert re.search(r"[▁▂▃▄▅▆▇█]{20,}", queue_line) and stats in queue_line, queue_line


def test_overview_pane_shows_targets_charts_alerts_and_errors(shop: Shop) -> None:
    page = shop.page("monitoring")
    assert re.search(r"<td>shop</td><td>http://127\.0\.0\.1:\d+/metrics</td><td>up</td>", page), page[:3000]
    drawn = charts(page)
    rate = drawn["shop: shop_http_requests_total per second"][2]
    assert list(rate) == ['{job="shop"}'] and rate['{job="shop"}'] >= 2, rate
    p95 = drawn["shop: shop_http_request_duration_seconds p95"][2]
    assert list(p95) == ['{job="shop"}'], p95
    assert '{job="shop"}' in drawn["Targets up (1 up, 0 down)"][2]
    assert "<td>QueueDeep</td><td>firing</td>" in page and "ShopUp</td><td>firing (silenced)" in page
    assert "KeyError: &#x27;sku-42&#x27;" in page and "PaymentError" in page
    text = shop.page("monitoring", fmt="text")
    assert "Scrape targets" in text and "QueueDeep" in text and "KeyError" in text and "min " in text


def test_logs_pane_newest_first_filtered_and_live(shop: Shop) -> None:
    page = shop.page("logs")
    lines = re.findall(r"served cart request (\d)", page)
    assert lines == ["3", "2", "1", "0"] and page.index("payment failed") < page.index("request 3")
    assert "var ms=2000" in page  # live tail
    errors_only = shop.page("logs", '{level="error"} payment', "text")
    assert "payment failed for order 17" in errors_only and "served cart" not in errors_only
    assert "refresh: 2 s" in errors_only
    nothing = shop.page("logs", "-payment -served", "text")
    assert "no log lines match" in nothing
    with pytest.raises(BadInput) as bad:
        shop.client.call("panes.open", {"project": shop.project, "pane": "logs", "item": '{level="error" payment'})
    assert "item" in bad.value.message and "1:" in bad.value.message, bad.value.message


def test_traces_and_trace_panes(shop: Shop) -> None:
    page = shop.page("traces")
    durations = charts(page)["Trace durations"][2]
    assert durations == {"duration": TRACES}, durations  # one point per trace
    assert TRACE_ID in page and "checkout: GET /cart" in page
    assert TRACE_ID in shop.page("traces", "checkout", "text")
    with pytest.raises(NotFound) as unknown_service:
        shop.client.call("panes.open", {"project": shop.project, "pane": "traces", "item": "billing"})
    assert "checkout" in unknown_service.value.message

    page = shop.page("trace", TRACE_ID)
    bars = re.findall(r'<g class="(span(?: error)?)"><title>([^<]*)</title>', page)
    assert [cls for cls, _ in bars] == ["span", "span", "span", "span error"], bars
    assert [html.unescape(t).split(":")[1].strip() for _, t in bars] == [
        "GET /cart",
        "SELECT cart",
        "POST /charge",
        "gateway.charge",
    ]
    assert 'fill="#cf222e"' in page and "PaymentError" in page  # the error bar, its exception event
    text = shop.page("trace", TRACE_ID, "text")
    tree = [line for line in text.splitlines() if "▇" in line]
    assert len(tree) == SPANS and tree[3].startswith("    └─ checkout: gateway.charge") and "ERROR" in tree[3], tree
    for missing in (uuid.uuid4().hex, "not-a-trace"):
        with pytest.raises(NotFound) as unknown:
            shop.client.call("panes.open", {"project": shop.project, "pane": "trace", "item": missing})
        assert missing in unknown.value.message


def test_alerts_errors_and_error_panes(shop: Shop) -> None:
    alerts = shop.page("alerts")
    assert "<td>QueueDeep</td><td>FIRING</td>" in alerts and "silenced by" in alerts and "alertname=ShopUp" in alerts
    assert "shop_queue_depth &gt; 0" in alerts
    errors = shop.page("errors")
    groups = {
        html.unescape(m[1]).split(":")[0]: m[0] for m in re.findall(r"<td>([0-9a-f]{32})</td><td>([^<]*)</td>", errors)
    }
    assert {"KeyError", "PaymentError"} <= set(groups), groups
    page = shop.page("error", groups["KeyError"])
    assert (
        "File &quot;/app/shop/cart.py&quot;, line 12, in add" in page
        and "<td>/app/shop/cart.py</td><td>12</td><td>add</td>" in page
    )
    assert "payment failed for order 17" in page or "sku-42" in page  # its recent event
    text = shop.page("error", groups["PaymentError"], "text")
    assert 'File "/app/shop/pay.py", line 31, in charge' in text and TRACE_ID in text
    with pytest.raises(NotFound):
        shop.client.call("panes.open", {"project": shop.project, "pane": "error", "item": uuid.uuid4().hex})


# ---- dashboards: operations and bad input ------------------------------------------------------


def test_dashboard_operations_and_bad_input(shop: Shop) -> None:
    project = shop.project
    panel = {"title": "Up", "query": "up"}
    saved = shop.client.call("monitoring.save_dashboard", {"project": project, "name": "scratch", "panels": [panel]})
    assert saved.title == "scratch" and saved.panels[0].unit == ""
    replaced = shop.client.call(
        "monitoring.save_dashboard",
        {"project": project, "name": "scratch", "title": "Scratch", "panels": [panel, panel]},
    )
    assert replaced.created_at == saved.created_at and len(replaced.panels) == 2 and replaced.title == "Scratch"
    names = [d.name for d in shop.viewer.call("monitoring.dashboards", {"project": project}).items]
    assert names == ["checkout", "scratch"]

    with pytest.raises(BadInput) as bad:
        shop.client.call(
            "monitoring.save_dashboard",
            {
                "project": project,
                "name": "broken",
                "panels": [panel, {"title": "Rate", "query": "rate(up[5m)"}, {"title": "Raw", "query": "up[5m]"}],
            },
        )
    fields = {p.field: p.message for p in bad.value.errors}
    assert set(fields) == {"panels.1.query", "panels.2.query"}, fields
    assert fields["panels.1.query"].startswith("panel 2 ('Rate'): 1:") and "]" in fields["panels.1.query"]
    assert "range vector" in fields["panels.2.query"]

    with pytest.raises(PermissionDenied):
        shop.viewer.call("monitoring.save_dashboard", {"project": project, "name": "mine", "panels": [panel]})
    with pytest.raises(PermissionDenied):
        shop.viewer.call("monitoring.remove_dashboard", {"project": project, "name": "scratch"})
    assert shop.viewer.call(
        "panes.open", {"project": project, "pane": "dashboard", "item": "scratch"}
    ).url  # viewers view

    assert shop.client.call("monitoring.remove_dashboard", {"project": project, "name": "scratch"}).removed
    for call in (
        lambda: shop.client.call("panes.open", {"project": project, "pane": "dashboard", "item": "scratch"}),
        lambda: shop.client.call("monitoring.remove_dashboard", {"project": project, "name": "scratch"}),
    ):
        with pytest.raises(NotFound) as gone:
            call()
        assert "scratch" in gone.value.message and "checkout" in gone.value.message  # names the ones it has
    with pytest.raises(BadInput):
        shop.client.call("panes.open", {"project": project, "pane": "dashboard"})  # which one?


def test_empty_project_panes_say_no_data_yet(monitored: RunningPlatform, client: PlatformClient) -> None:
    project = new_project(monitored)
    expected = {
        "monitoring": "no scrape targets yet",
        "alerts": "no rules yet",
        "errors": "no errors yet",
        "logs": "no log lines yet",
        "traces": "no traces yet",
    }
    for pane, says in expected.items():
        url = client.call("panes.open", {"project": project, "pane": pane}).url
        for fmt in ("html", "text"):
            answer = httpx.get(f"{url}&format={fmt}", timeout=30)
            assert answer.status_code == 200 and says in answer.text, (pane, fmt, answer.text[:1500])
    with pytest.raises(NotFound) as none:
        client.call("panes.open", {"project": project, "pane": "dashboard", "item": "checkout"})
    assert "has none yet" in none.value.message
    link = client.call("panes.open", {"project": project, "pane": "logs", "item": "anything at all"}).url
    assert quote("anything") not in link  # the query travels inside the signed link, not beside it


def test_panes_render_in_chromium(shop: Shop, tmp_path: Path) -> None:
    """Each pane rendered by headless Chromium to test-artifacts/monitoring/<pane>.png, for a
    person to look at (the SVG itself is checked above): one browser, a tab per pane."""
    require("chromium", Path(CHROMIUM).exists(), "apt-get install -y chromium")
    error = next(
        g.id for g in shop.client.call("monitoring.errors", {"project": shop.project}).items if g.type == "KeyError"
    )
    shots = {
        "monitoring": shop.open("monitoring"),
        "dashboard": shop.open("dashboard", "checkout"),
        "logs": shop.open("logs"),
        "traces": shop.open("traces"),
        "trace": shop.open("trace", TRACE_ID),
        "alerts": shop.open("alerts"),
        "errors": shop.open("errors"),
        "error": shop.open("error", error),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with Browser(tmp_path) as browser:
        for name, url in shots.items():
            png = browser.screenshot(url)
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000, name
            (ARTIFACTS / f"{name}.png").write_bytes(png)
        # The live tail: the open page fetches its own signed link again and shows a new line.
        tab = browser.open(shots["logs"])
        assert "served cart request 3" in browser.text(tab)
        line = f"late line {uuid.uuid4().hex[:8]}"
        _send(
            shop,
            f"/ingest/{shop.project}/logs?service=checkout",
            json.dumps({"message": line}).encode(),
            "application/x-ndjson",
        )
        wait_for("the live tail's new line", lambda: line in browser.text(tab), 30)
        assert browser.text(tab).index(line) < browser.text(tab).index("served cart request 3")  # newest first


class Browser:
    """Headless Chromium driven over the DevTools protocol: one launch for every screenshot."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.ids = iter(range(1, 1_000_000))
        self.targets: dict[str, str] = {}  # session -> target

    def __enter__(self) -> Browser:
        self.process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        active = self.profile / "DevToolsActivePort"
        wait_for("Chromium's DevTools port", lambda: active.exists() and len(active.read_text().split()) == 2, 60)
        port, path = active.read_text().split()
        self.ws = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()
        self.process.terminate()
        self.process.wait(timeout=30)

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None, *, until: str = ""
    ) -> dict[str, Any]:
        """The answer to `method`, or with `until`, the first event of that name after it."""
        msg_id = next(self.ids)
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        answer: dict[str, Any] | None = None
        while True:
            got = json.loads(self.ws.recv(timeout=60))
            if got.get("id") == msg_id:
                assert "error" not in got, (method, got)
                answer = got["result"]
            elif until and got.get("method") == until and got.get("sessionId") == session:
                return dict(got["params"])
            if answer is not None and not until:
                return answer

    def open(self, url: str) -> str:
        """A new tab showing `url`, loaded; its session id."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = str(self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"])
        self.send("Page.enable", session=session)
        metrics = {"width": 1280, "height": 1600, "deviceScaleFactor": 1, "mobile": False}
        self.send("Emulation.setDeviceMetricsOverride", metrics, session)
        self.send("Page.navigate", {"url": url}, session, until="Page.loadEventFired")
        self.targets[session] = target
        return session

    def text(self, session: str) -> str:
        found = self.send("Runtime.evaluate", {"expression": "document.body.innerText"}, session)
        return str(found["result"]["value"])

    def screenshot(self, url: str) -> bytes:
        session = self.open(url)
        data = self.send("Page.captureScreenshot", {"format": "png"}, session)["data"]
        self.send("Target.closeTarget", {"targetId": self.targets.pop(session)})
        return base64.b64decode(data)
