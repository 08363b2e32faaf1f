"""The edge's operations through a real `codeforge up` (its supervisor runs the node) and the
HTTP client: nodes, publish, routes, route_show, push, withdraw, the pane, and bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from codeforge.catalog.errors import BadInput, CodeForgeError, NotFound
from codeforge.client import PlatformClient
from tests.conftest import RunningPlatform, start_platform
from tests.servers.caddy import need_caddy, start_backends


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    need_caddy()
    running = start_platform(tmp_path_factory.mktemp("edge-platform"), CODEFORGE_EDGE_NODES="local")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(platform: RunningPlatform) -> Iterator[PlatformClient]:
    with PlatformClient(platform.url, platform.token, timeout=60) as c:
        yield c


def call(client: PlatformClient, op: str, body: dict[str, Any]) -> dict[str, Any]:
    out = client.call(op, {"project": "demo", **body})
    return out.model_dump(mode="json")


def test_publish_serve_list_show_push_withdraw(client: PlatformClient, platform: RunningPlatform) -> None:
    nodes = call(client, "edge.nodes", {})
    assert [(n["name"], n["state"], n["behind"]) for n in nodes["items"]] == [("local", "up", False)]
    address = nodes["items"][0]["http_address"]
    with start_backends("one", "two") as (one, two):
        out = call(
            client,
            "edge.publish",
            {
                "name": "web",
                "hosts": ["web.demo.localhost"],
                "backends": [{"address": one.address, "group": "r1"}, {"address": two.address, "group": "r1"}],
            },
        )
        assert out["failed"] == {} and out["version"] >= 1
        served = {
            httpx.get(f"http://{address}/", headers={"Host": "web.demo.localhost"}, timeout=10).headers["X-Backend"]
            for _ in range(4)
        }
        assert served == {"one", "two"}
        listed = call(client, "edge.routes", {})["items"]
        assert [r["name"] for r in listed] == ["web"]
        shown = call(client, "edge.route_show", {"name": "web"})
        assert shown["hosts"] == ["web.demo.localhost"] and len(shown["backends"]) == 2
        again = call(client, "edge.push", {})
        assert again["failed"] == {}
        link = urlsplit(call(client, "panes.open", {"pane": "edge"})["url"])
        page = httpx.get(f"{platform.url}{link.path}?{link.query}&format=text", timeout=30)
        assert page.status_code == 200, page.text
        for text in ("Nodes", "local", "web.demo.localhost", one.address, "r1", "config version"):
            assert text in page.text, text
        gone = call(client, "edge.withdraw", {"name": "web"})
        assert gone["failed"] == {} and gone["version"] > out["version"]
        gone_page = httpx.get(f"http://{address}/", headers={"Host": "web.demo.localhost"}, timeout=10)
        assert gone_page.status_code == 404 and "no edge route" in gone_page.text
        assert call(client, "edge.routes", {})["items"] == []


def test_bad_input_over_http(client: PlatformClient) -> None:
    with pytest.raises(BadInput) as caught:
        call(client, "edge.publish", {"name": "web", "hosts": ["x.localhost"], "backends": [{"address": "nowhere"}]})
    assert "backends[0].address" in caught.value.message
    with pytest.raises(BadInput):
        call(client, "edge.publish", {"name": "Web!", "hosts": [], "backends": []})
    with pytest.raises(BadInput) as foreign:
        call(
            client, "edge.publish", {"name": "web", "hosts": ["example.com"], "backends": [{"address": "127.0.0.1:9"}]}
        )
    assert "example.com" in foreign.value.message
    with pytest.raises(NotFound):
        call(client, "edge.route_show", {"name": "missing"})
    with pytest.raises(NotFound):
        call(client, "edge.withdraw", {"name": "missing"})
    with pytest.raises(CodeForgeError):
        call(
            client,
            "edge.publish",
            {"name": "web", "hosts": ["x.localhost"], "backends": [{"address": "127.0.0.1:9"}], "extra": 1},
        )


def test_the_node_dies_with_the_platform(tmp_path: Path) -> None:
    need_caddy()
    running = start_platform(tmp_path / "p", CODEFORGE_EDGE_NODES="solo")
    try:
        with PlatformClient(running.url, running.token, timeout=60) as c:
            admin = httpx.get(f"{running.url}/api/v1/catalog", timeout=10)  # the platform answers
            assert admin.status_code in (200, 401)
            node = call(c, "edge.nodes", {})["items"][0]
        http = node["http_address"]
        assert httpx.get(f"http://{http}/", timeout=5).status_code in (200, 404)
    finally:
        running.kill()
    with pytest.raises(httpx.TransportError):
        for _ in range(100):  # SIGKILL of the platform: the kernel's death signal ends its Caddy
            httpx.get(f"http://{http}/", timeout=1)
            time.sleep(0.05)
