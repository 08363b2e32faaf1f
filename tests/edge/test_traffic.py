"""Requests through a real Caddy node counted into monitoring's metrics store per route,
backend group, region and status, with a latency histogram."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from codeforge.platform.edge.routes import Backend, Route, nodes, publish
from codeforge.platform.edge.traffic import DURATION, REQUESTS, TrafficCounter
from codeforge.platform.monitoring.records import Matcher
from codeforge.platform.monitoring.runtime import MonitoringService, monitoring_for
from tests.servers.caddy import EdgeWorld, start_backends


def test_requests_and_latency_per_group_in_monitoring(edge: EdgeWorld) -> None:
    counter = TrafficCounter(edge.db, edge.settings)
    try:
        with start_backends("blue", "green") as (blue, green), httpx.Client(timeout=10) as client:
            spec = Route(
                edge.project_id,
                "web",
                ("t.example.test",),
                (Backend(blue.address, 1, "r1"), Backend(green.address, 1, "r2")),
                health_path=None,
            )
            publish(edge.db, edge.settings, None, spec)
            node = nodes(edge.db, edge.settings)[0]
            for path in ["/"] * 10 + ["/status/503"] * 4:
                client.get(f"http://{node.http_address}{path}", headers={"Host": "t.example.test"})
            client.get(
                f"http://{node.http_address}/", headers={"Host": "unknown.example.test"}
            )  # no route: not counted
            deadline = time.monotonic() + 10
            counted = 0
            while counted < 14 and time.monotonic() < deadline:  # Caddy writes its log asynchronously
                counted += counter.poll()
                time.sleep(0.05)
            assert counted == 14
        store = monitoring_for(edge.settings).metrics
        now = int(time.time() * 1000) + 1000
        series = store.select(edge.project_id, [Matcher("__name__", "=", REQUESTS)], 0, now)
        totals = {
            (s.labels["group"], s.labels["code"], s.labels["region"], s.labels["route"]): s.values[-1] for s in series
        }
        assert totals == {
            ("r1", "200", "local", "web"): 5.0,
            ("r2", "200", "local", "web"): 5.0,
            ("r1", "503", "local", "web"): 2.0,
            ("r2", "503", "local", "web"): 2.0,
        }
        counts = store.select(edge.project_id, [Matcher("__name__", "=", f"{DURATION}_count")], 0, now)
        assert sorted(s.values[-1] for s in counts) == [7.0, 7.0]
        inf = store.select(
            edge.project_id, [Matcher("__name__", "=", f"{DURATION}_bucket"), Matcher("le", "=", "+Inf")], 0, now
        )
        assert sorted(s.values[-1] for s in inf) == [7.0, 7.0]
    finally:
        MonitoringService(edge.settings, edge.db).stop()


def test_a_new_counter_starts_at_the_logs_end_and_a_rolled_log_is_read_from_its_start(edge: EdgeWorld) -> None:
    try:
        with start_backends("app") as (app,), httpx.Client(timeout=10) as client:
            publish(
                edge.db,
                edge.settings,
                None,
                Route(edge.project_id, "web", ("r.example.test",), (Backend(app.address),)),
            )
            node = nodes(edge.db, edge.settings)[0]
            for _ in range(3):
                client.get(f"http://{node.http_address}/", headers={"Host": "r.example.test"})
            log = Path(node.access_log)
            deadline = time.monotonic() + 10
            while log.read_text().count("r.example.test") < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            counter = TrafficCounter(edge.db, edge.settings)  # a restarted platform: old lines are not counted again
            assert counter.poll() == 0
            lines = log.read_text().splitlines()
            log.write_text(lines[-1] + "\n")  # as a roll leaves it: a shorter file
            assert counter.poll() == 1
    finally:
        MonitoringService(edge.settings, edge.db).stop()
