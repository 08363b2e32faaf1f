"""The cache's background service: one varnishd per edge node, kept running with the VCL the
rules make; owed purges applied when a node answers again; hit/miss counts per route written
to monitoring as `codeforge_cache_requests_total{project, route, result}`.

Every `interval_s` it reads the edge's nodes and cached routes (none: no varnishd runs at
all, so a platform whose edge caches nothing pays nothing): a node without a running
varnishd (never started, died, or moved address) gets one; a running one whose VCL differs
from what the rules make now (a route's hosts changed, or it missed a push) loads it."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

from codeforge.platform.cache.apply import retry_pending, route_caches, vcl_for
from codeforge.platform.cache.nodes import cache_nodes, cached_routes
from codeforge.platform.cache.varnish import Admin, VarnishError, VarnishNode, kill_stale, varnish_available

if TYPE_CHECKING:
    from codeforge.platform.db import Database
    from codeforge.platform.settings import Settings

__all__ = ["METRIC", "CacheSupervisor", "write_counts"]

log = logging.getLogger("codeforge.cache")
METRIC = "codeforge_cache_requests_total"
_RESULTS = {"hit": "hit", "miss": "miss", "pass": "pass", "pipe": "pass", "synth": "synth"}


def write_counts(settings: Settings, db: Database, totals: Counter[tuple[str, str]]) -> int:
    """Write cumulative totals by (route id, result) as the counter; the samples written."""
    from sqlalchemy import select

    from codeforge.platform.auth.models import Project
    from codeforge.platform.monitoring.runtime import monitoring_for

    by_project: dict[str, list[tuple[dict[str, str], int, float]]] = {}
    now_ms = time.time_ns() // 1_000_000
    with db.session() as s:
        ids = {rid.split("/", 1)[0] for rid, _ in totals}
        slugs = dict(s.execute(select(Project.id, Project.slug).where(Project.id.in_(ids))).tuples().all())
    for (rid, result), value in totals.items():
        project_id, _, route = rid.partition("/")
        if project_id not in slugs:
            continue
        labels = {"__name__": METRIC, "project": slugs[project_id], "route": route, "result": result}
        by_project.setdefault(project_id, []).append((labels, now_ms, float(value)))
    written = 0
    metrics = monitoring_for(settings).metrics
    for project_id, samples in by_project.items():
        written += metrics.write(project_id, samples)
    return written


class CacheSupervisor:
    def __init__(self, db: Database, settings: Settings, interval_s: float = 2.0, settle_s: float = 10.0) -> None:
        self.db = db
        self.settings = settings
        self.interval_s = interval_s
        # A VCL an operation pushed less than this long ago is left alone: the operation
        # pushes before its transaction commits, so a round that read the rules just before
        # would put the old VCL back. After it, what the database says wins (a push whose
        # transaction rolled back is undone here).
        self.settle_s = settle_s
        self.nodes: dict[str, VarnishNode] = {}
        self.totals: Counter[tuple[str, str]] = Counter()  # (route id, result) since this process started
        self.errors: dict[str, str] = {}
        self._pending: Counter[tuple[str, str]] = Counter()  # counts of nodes stopped since the last write
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if not varnish_available():
            log.info("cache: varnishd is not installed here; edge routes are served uncached")
            return
        self._thread = threading.Thread(target=self._loop, name="cache-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        with self._lock:
            self._collect()
            for node in self.nodes.values():
                node.stop()
            self.nodes.clear()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("cache: supervisor round failed")
            self._stop.wait(self.interval_s)

    def tick(self) -> None:
        with self._lock:
            self._tick()

    def _tick(self) -> None:
        with self.db.session() as s:
            routes = cached_routes(s)
            # No cached route: no varnishd (the edge sends cached routes straight to its LB
            # listener while a node's cache is not running, and other routes never reach it).
            wanted = cache_nodes(s, self.settings) if routes else []
            caches = route_caches(s, routes)
        names = {n.name for n in wanted}
        for name in [n for n in self.nodes if n not in names]:
            self._retire(self.nodes.pop(name))
        for node in wanted:
            vcl = vcl_for(node, caches)
            running = self.nodes.get(node.name)
            if running is not None and (
                not running.alive or running.listen != node.listen or running.backend != node.backend
            ):
                self._retire(running)
                running = None
            try:
                if running is None:
                    kill_stale(node.workdir)
                    running = VarnishNode(node.name, node.listen, node.backend, node.workdir)
                    running.start(vcl)
                    self.nodes[node.name] = running
                    log.info("cache: varnishd for node %s listens on %s", node.name, node.listen)
                else:
                    active = node.workdir / "active.vcl"
                    if not active.exists() or (
                        active.read_text() != vcl and time.time() - active.stat().st_mtime >= self.settle_s
                    ):
                        Admin.from_workdir(node.workdir).load(vcl, node.workdir)
                self.errors.pop(node.name, None)
            except VarnishError as exc:
                self.errors[node.name] = str(exc)[:2000]
                log.warning("cache: node %s: %s", node.name, exc)
        with self.db.session() as s:
            for line in retry_pending(s, wanted):
                log.info("cache: owed purge applied on %s", line)
        self._collect()

    def _retire(self, node: VarnishNode) -> None:
        """Stop a node's varnishd, keeping what its varnishncsa had counted."""
        node.stop()
        self._add(self._pending, node)

    def _add(self, into: Counter[tuple[str, str]], node: VarnishNode) -> None:
        for (rid, handling), n in node.drain_counts().items():
            into[(rid, _RESULTS.get(handling, handling))] += n

    def _collect(self) -> None:
        fresh: Counter[tuple[str, str]] = self._pending
        self._pending = Counter()
        for node in self.nodes.values():
            self._add(fresh, node)
        if not fresh:
            return
        self.totals.update(fresh)
        with contextlib.suppress(Exception):
            write_counts(self.settings, self.db, self.totals)
