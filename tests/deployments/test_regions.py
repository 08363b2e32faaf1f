"""A deployment over two regions (two edge nodes, eu@eu-west and us@us-east): instances are
started region by region in the order given, both nodes serve the release, analytics count
requests per region, and a region no edge node serves is refused before anything is made."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from codeforge.catalog.errors import CodeForgeError
from tests.conftest import RunningPlatform
from tests.deployments.conftest import (
    EdgeRig,
    deploy_app,
    edge_address,
    need_edge_metrics,
    run,
    set_app,
    through_edge,
    wait_serving,
    workspace_with_app,
)
from tests.servers.caddy import need_caddy


def test_two_regions_in_order(platform_factory: Callable[..., RunningPlatform]) -> None:
    need_caddy()
    platform = platform_factory(
        CODEFORGE_EDGE_NODES="eu@eu-west,us@us-east",
        CODEFORGE_EDGE_TRAFFIC_INTERVAL_S="1",
        CODEFORGE_WORKSPACES_PORT_RANGE="24900-24999",
    )
    with platform.client() as client:
        eu = EdgeRig(platform, edge_address(platform, node="eu"))
        us = EdgeRig(platform, edge_address(platform, node="us"))
        host = "geo.demo.localhost"
        tree = workspace_with_app(client, "demo", "geo", "one")
        with pytest.raises(CodeForgeError, match="no edge node serves region"):
            deploy_app(client, "demo", "geo", "geo", regions=["eu-west", "ap-south"])
        info = deploy_app(client, "demo", "geo", "geo", regions=["us-east", "eu-west"], instances=2)
        [v1] = info["releases"]
        assert [i["region"] for i in v1["instances"]] == ["us-east", "us-east", "eu-west", "eu-west"]
        assert info["regions"] == ["us-east", "eu-west"]
        for node in (eu, us):
            wait_serving(node, host, "one")
        set_app(tree, "two")
        info = deploy_app(client, "demo", "geo", "geo", regions=["us-east", "eu-west"], instances=2)
        for node in (eu, us):
            wait_serving(node, host, "two")
        assert [r["state"] for r in info["releases"]] == ["live", "retired"]
        with httpx.Client(timeout=10) as c:
            for node in (eu, us):
                for _ in range(30):
                    assert through_edge(node, host, client=c).text == "two"
        need_edge_metrics()
        regions: set[str] = set()
        for _ in range(100):
            stats = run(client, "deployments.analytics", {"project": "demo", "name": "geo"})["items"]
            regions = {a["region"] for a in stats if a["release"] == 2 and a["requests"] >= 30}
            if regions == {"eu-west", "us-east"}:
                break
            time.sleep(0.2)
        assert regions == {"eu-west", "us-east"}
        run(client, "deployments.delete", {"project": "demo", "name": "geo"})
        run(client, "workspaces.delete", {"project": "demo", "name": "geo"})
