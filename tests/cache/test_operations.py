"""The cache through a real `codeforge up` with two edge nodes (Caddy, from the edge
capability) and a Varnish on each (this capability's supervisor): a route published with
`cached` on, rules set over HTTP, objects served from cache, purges removing them from every
node, statistics, the pane, and bad input as problem+json."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from codeforge import catalog
from codeforge.catalog.errors import NotFound
from codeforge.client import PlatformClient
from tests.conftest import RunningPlatform, start_platform
from tests.servers.caddy import need_caddy
from tests.servers.varnish import CountingApp, need_varnish

HOST = "shop-cache.localhost"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    need_varnish()
    need_caddy()
    running = start_platform(tmp_path_factory.mktemp("cache-platform"), CODEFORGE_EDGE_NODES="a@eu,b@us")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(platform: RunningPlatform) -> Iterator[PlatformClient]:
    with PlatformClient(platform.url, platform.token, timeout=60) as c:
        yield c


def call(client: PlatformClient, op: str, body: dict[str, Any]) -> dict[str, Any]:
    out = client.call(op, {"project": "demo", **body})
    return out.model_dump(mode="json")


def _through(address: str, path: str) -> httpx.Response:
    return httpx.get(f"http://{address}{path}", headers={"Host": HOST}, timeout=10)


def _until_cached(address: str, path: str) -> None:
    """Wait until the node's Caddy sends this route through its Varnish and the Varnish runs
    the rules (a node the set_rule push found still starting gets them at the supervisor's
    next round)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _through(address, path).headers.get("X-Cache") in ("MISS", "HIT"):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{address} never sent {path} through its cache")


def test_rules_purge_and_stats_on_two_nodes(client: PlatformClient, platform: RunningPlatform) -> None:
    app = CountingApp()
    try:
        call(
            client,
            "edge.publish",
            {"name": "shop", "hosts": [HOST], "backends": [{"address": app.address}], "cached": True},
        )
        rule = call(client, "cache.set_rule", {"route": "shop", "path": "/", "ttl_s": 300})
        assert rule["rule"]["ttl_s"] == 300
        nodes = {n["name"]: n["http_address"] for n in call(client, "edge.nodes", {})["items"]}
        assert sorted(nodes) == ["a", "b"]
        for address in nodes.values():
            _until_cached(address, "/warm")
        before = app.served(HOST, "/p/item?tag=x")
        for address in nodes.values():
            assert [_through(address, "/p/item?tag=x").headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]
        assert app.served(HOST, "/p/item?tag=x") - before == 2  # once per node

        out = call(client, "cache.purge", {"tag": "x"})
        assert sorted(out["purged_on"]) == ["a", "b"] and out["pending"] == []
        for address in nodes.values():
            assert _through(address, "/p/item?tag=x").headers["X-Cache"] == "MISS"
        out = call(client, "cache.purge", {"prefix": "/p/", "route": "shop"})
        assert sorted(out["purged_on"]) == ["a", "b"]
        for address in nodes.values():
            assert _through(address, "/p/item?tag=x").headers["X-Cache"] == "MISS"
        out = call(client, "cache.purge", {"url": f"http://{HOST}/p/item?tag=x"})
        assert sorted(out["purged_on"]) == ["a", "b"]
        for address in nodes.values():
            assert _through(address, "/p/item?tag=x").headers["X-Cache"] == "MISS"

        rules = call(client, "cache.rules", {})
        assert [(r["route"], r["path"], r["match"]) for r in rules["items"]] == [("shop", "/", "prefix")]
        # a rule with TTL 0 passes: the platform's push reaches both nodes at once
        out = call(client, "cache.set_rule", {"route": "shop", "path": "/live", "match": "exact", "ttl_s": 0})
        assert sorted((n["node"], n["ok"]) for n in out["nodes"]) == [("a", True), ("b", True)]
        assert _through(nodes["a"], "/live").headers["X-Cache"] == "PASS"

        deadline = time.monotonic() + 60
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            stats = call(client, "cache.stats", {"route": "shop"})
            if stats["routes"] and stats["routes"][0]["hits"] >= 2:
                break
            time.sleep(1)
        row = stats["routes"][0]
        assert row["route"] == "shop" and row["hits"] >= 2 and row["misses"] >= 2
        assert 0 < row["hit_ratio"] < 1
        assert sorted((n["node"], n["ok"]) for n in stats["nodes"]) == [("a", True), ("b", True)]

        link = urlsplit(call(client, "panes.open", {"pane": "cache"})["url"])
        page = httpx.get(f"{platform.url}{link.path}?{link.query}&format=text", timeout=30)
        assert page.status_code == 200, page.text
        for text in ("Hit ratio", "shop", "/live", "exact", "300 s", "cookie, authorization", "Nodes"):
            assert text in page.text, text

        call(client, "cache.delete_rule", {"route": "shop", "path": "/live", "match": "exact"})
        with pytest.raises(NotFound):
            call(client, "cache.delete_rule", {"route": "shop", "path": "/live", "match": "exact"})
    finally:
        app.close()


def test_bad_input_is_a_problem(client: PlatformClient, platform: RunningPlatform) -> None:
    with pytest.raises(NotFound, match="no edge route"):
        call(client, "cache.set_rule", {"route": "nope", "path": "/", "ttl_s": 5})
    headers = {"Authorization": f"Bearer {platform.token}"}
    for op, body in (
        (catalog.cache.SET_RULE, {"route": "shop", "path": "no-slash", "ttl_s": 5}),
        (catalog.cache.SET_RULE, {"route": "shop", "path": "/", "ttl_s": 5, "vary_headers": ["Cookie"]}),
        (catalog.cache.PURGE, {"url": "/a", "tag": "b"}),
        (catalog.cache.PURGE, {"url": "/a b"}),
        (catalog.cache.PURGE, {"url": "https://elsewhere.test/a"}),
    ):
        response = httpx.post(f"{platform.url}{op.path}", json={"project": "demo", **body}, headers=headers, timeout=30)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
