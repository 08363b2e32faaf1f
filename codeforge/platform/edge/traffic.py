"""Requests through the edge, counted into monitoring's metrics store from each node's JSON
access log: `codeforge_edge_requests_total{project, route, group, region, code}` and the
histogram `codeforge_edge_request_duration_seconds{project, route, group, region}` (`_bucket`
with `le`, `_sum`, `_count`), which deployments read for error rate and latency per release.

Each entry names its route (`cf_route`, project id / route name) and the upstream that served
it (`cf_upstream`, host:port); the group is that backend's group in the stored route ("" when
the address is not one of its backends any more, "cache" for a cached route, whose upstream is
the node's cache). Counters are cumulative from the platform's start, as a Prometheus
exporter's are; a log seen when the counter starts is read from its end, so a restart does not
count old lines again."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeforge.platform.edge.config import ROUTE_FIELD, UPSTREAM_FIELD
from codeforge.platform.edge.routes import nodes, stored_routes
from codeforge.platform.edge.settings import edge_settings

if TYPE_CHECKING:
    from codeforge.platform.db import Database
    from codeforge.platform.settings import Settings

__all__ = ["BUCKETS", "DURATION", "REQUESTS", "TrafficCounter"]

log = logging.getLogger("codeforge.edge")

REQUESTS = "codeforge_edge_requests_total"
DURATION = "codeforge_edge_request_duration_seconds"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_MAX_READ = 16 * 1024 * 1024  # bytes of one log read per poll

Key = tuple[str, str, str, str]  # project, route, group, region


class _Histogram:
    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        i = bisect_left(BUCKETS, seconds)
        for j in range(i, len(BUCKETS)):
            self.buckets[j] += 1
        self.count += 1
        self.total += seconds


class TrafficCounter:
    """Reads new access-log lines (`poll`) and writes the samples; as the capability's
    background service it polls every CODEFORGE_EDGE_TRAFFIC_INTERVAL_S."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._offsets: dict[str, int] = {}
        self._partial: dict[str, bytes] = {}
        self._requests: dict[tuple[Key, str], int] = defaultdict(int)
        self._durations: dict[Key, _Histogram] = defaultdict(_Histogram)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for node in nodes(db, settings):
            if node.access_log and os.path.exists(node.access_log):
                self._offsets[node.access_log] = os.path.getsize(node.access_log)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="edge-traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        # No last poll: monitoring (started after the edge) has stopped by now, and lines not
        # read yet are read from the log by no one (a restart starts at the log's end).

    def _loop(self) -> None:
        while not self._stop.wait(edge_settings().traffic_interval_s):
            try:
                self.poll()
            except Exception:
                log.exception("edge traffic poll failed")

    def _read(self, path: str) -> list[bytes]:
        try:
            size = os.path.getsize(path)
        except OSError:
            return []
        offset = self._offsets.get(path, 0)
        if size < offset:  # a new file (the node restarted elsewhere, the log was cut)
            offset, self._partial[path] = 0, b""
        if size == offset:
            return []
        with Path(path).open("rb") as f:
            f.seek(offset)
            data = f.read(min(size - offset, _MAX_READ))
        self._offsets[path] = offset + len(data)
        data = self._partial.pop(path, b"") + data
        lines = data.split(b"\n")
        self._partial[path] = lines.pop()  # a line not yet ended waits for the next read
        return lines

    def poll(self) -> int:
        """Read what the nodes logged since the last poll and write the counters; the number
        of requests counted."""
        with self._lock:
            groups: dict[str, dict[str, str]] = {}
            cached: set[str] = set()
            for route in stored_routes(self.db):
                name = f"{route.project_id}/{route.name}"
                groups[name] = {b.address: b.group for b in route.backends}
                if route.cached:
                    cached.add(name)
            counted = 0
            for node in nodes(self.db, self.settings):
                if not node.access_log:
                    continue
                for line in self._read(node.access_log):
                    entry = _parse(line)
                    if entry is None:
                        continue
                    route_key = str(entry.get(ROUTE_FIELD) or "")
                    if "/" not in route_key:
                        continue  # no route matched (an unknown host, an ACME challenge)
                    project, _, name = route_key.partition("/")
                    upstream = str(entry.get(UPSTREAM_FIELD) or "")
                    group = "cache" if route_key in cached else groups.get(route_key, {}).get(upstream, "")
                    key: Key = (project, name, group, node.region)
                    self._requests[(key, str(entry.get("status", 0)))] += 1
                    self._durations[key].observe(float(entry.get("duration") or 0.0))
                    counted += 1
            if counted:
                self._write()
            return counted

    def _write(self) -> None:
        from codeforge.platform.monitoring.runtime import monitoring_for

        now = int(time.time() * 1000)
        by_project: dict[str, list[tuple[dict[str, str], int, float]]] = defaultdict(list)
        for ((project, route, group, region), code), value in self._requests.items():
            labels = {
                "__name__": REQUESTS,
                "project": project,
                "route": route,
                "group": group,
                "region": region,
                "code": code,
            }
            by_project[project].append((labels, now, float(value)))
        for (project, route, group, region), hist in self._durations.items():
            base = {"project": project, "route": route, "group": group, "region": region}
            for le, count in zip(BUCKETS, hist.buckets, strict=True):
                by_project[project].append(
                    ({"__name__": f"{DURATION}_bucket", **base, "le": _le(le)}, now, float(count))
                )
            by_project[project].append(
                ({"__name__": f"{DURATION}_bucket", **base, "le": "+Inf"}, now, float(hist.count))
            )
            by_project[project].append(({"__name__": f"{DURATION}_sum", **base}, now, hist.total))
            by_project[project].append(({"__name__": f"{DURATION}_count", **base}, now, float(hist.count)))
        store = monitoring_for(self.settings).metrics
        for project, samples in by_project.items():
            store.write(project, samples)


def _le(bound: float) -> str:
    return f"{bound:g}" if bound < 1 or bound != int(bound) else f"{bound:.1f}"


def _parse(line: bytes) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None
