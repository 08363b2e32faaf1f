"""The cache's background service against real varnishd: one per edge node (as the edge
records them), the VCL following rules and routes, a dead varnishd restarted, hit/miss
counts in monitoring's metrics store."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from codeforge.platform.auth.models import Organization, Project
from codeforge.platform.cache.models import CacheRuleRow, PendingPurge
from codeforge.platform.cache.supervisor import METRIC, CacheSupervisor
from codeforge.platform.db import Base, Database
from codeforge.platform.edge.models import EdgeConfig, EdgeNodeRow, EdgeRoute
from codeforge.platform.edge.routes import Backend, Route
from codeforge.platform.monitoring.records import Matcher
from codeforge.platform.monitoring.runtime import monitoring_for
from codeforge.platform.settings import Settings
from tests.conftest import free_port
from tests.servers.varnish import CountingApp, need_varnish

PROJECT = "c" * 32
HOST = "www.shop.test"


@pytest.fixture
def platform_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, Database]]:
    need_varnish()
    monkeypatch.setenv("CODEFORGE_EDGE_NODES", "a@eu,b@us")
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'state.db'}", instance_id="t")
    db = Database(settings.resolved_database_url)
    tables = [Organization, Project, CacheRuleRow, PendingPurge, EdgeNodeRow, EdgeRoute, EdgeConfig]
    Base.metadata.create_all(db.engine, tables=[t.__table__ for t in tables])  # type: ignore[misc]
    with db.session() as s:
        org = Organization(slug="acme")
        s.add(org)
        s.flush()
        s.add(Project(id=PROJECT, org_id=org.id, slug="shop", name="shop"))
    yield settings, db
    monitoring_for(settings).stop()
    db.dispose()


def _get(address: str, path: str) -> httpx.Response:
    return httpx.get(f"http://{address}{path}", headers={"Host": HOST}, timeout=10)


def test_supervisor_runs_a_cache_per_node_and_follows_the_rules(
    platform_state: tuple[Settings, Database], counting_app: CountingApp
) -> None:
    settings, db = platform_state
    cache = {"a": f"127.0.0.1:{free_port()}", "b": f"127.0.0.1:{free_port()}"}
    with db.session() as s:
        for name, region in (("a", "eu"), ("b", "us")):
            s.add(
                EdgeNodeRow(
                    name=name,
                    region=region,
                    admin_url="",
                    http_address="",
                    https_address="",
                    lb_address=counting_app.address,  # the node's Caddy LB listener, stood in for by the app
                    cache_address=cache[name],
                )
            )
        s.add(CacheRuleRow(project_id=PROJECT, route="web", path="/", match="prefix", ttl_s=300, vary_headers=[]))
        uncached = Route(PROJECT, "plain", ("plain.test",), (Backend(counting_app.address),))
        s.add(EdgeRoute(project_id=PROJECT, name="plain", spec=uncached.as_json()))
    supervisor = CacheSupervisor(db, settings, interval_s=3600, settle_s=0)
    try:
        supervisor.tick()
        assert supervisor.nodes == {}  # nothing cached anywhere: no varnishd
        with db.session() as s:
            route = Route(PROJECT, "web", (HOST,), (Backend(counting_app.address),), cached=True)
            s.add(EdgeRoute(project_id=PROJECT, name="web", spec=route.as_json()))
        supervisor.tick()
        assert sorted(supervisor.nodes) == ["a", "b"] and supervisor.errors == {}
        for address in cache.values():
            assert [_get(address, "/home").headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]
        assert counting_app.served(HOST, "/home") == 2

        # a rule change reaches running nodes at the next round
        with db.session() as s:
            row = s.scalar(select(CacheRuleRow))
            assert row is not None
            row.ttl_s = 0
        supervisor.tick()
        assert _get(cache["a"], "/home").headers["X-Cache"] == "PASS"

        # a varnishd that died is started again
        node_a = supervisor.nodes["a"]
        assert node_a.process is not None
        os.killpg(node_a.process.pid, signal.SIGKILL)
        node_a.process.wait()
        supervisor.tick()
        assert supervisor.nodes["a"].alive
        assert _get(cache["a"], "/home").headers["X-Cache"] == "PASS"

        # requests counted per route into monitoring
        deadline = time.monotonic() + 15
        found: dict[str, float] = {}
        while time.monotonic() < deadline:
            supervisor.tick()
            series = monitoring_for(settings).metrics.select(
                PROJECT, [Matcher("__name__", "=", METRIC)], 0, time.time_ns() // 1_000_000 + 1000
            )
            found = {s.labels["result"]: s.values[-1] for s in series if s.labels["route"] == "web"}
            if found.get("hit", 0) >= 2 and found.get("pass", 0) >= 1:
                break
            time.sleep(0.2)
        assert found.get("hit") == 2 and found.get("miss", 0) >= 2 and found.get("pass", 0) >= 1
        labels = series[0].labels
        assert labels["project"] == "shop" and labels["__name__"] == METRIC
    finally:
        supervisor.stop()
    assert supervisor.nodes == {}
    with pytest.raises(httpx.TransportError):
        _get(cache["b"], "/home")
