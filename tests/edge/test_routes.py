"""Routes through real Caddy nodes: round robin, health checks, weighted split, a switch of
all traffic from one group to another under load, and what a publish reports."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx

from codeforge.platform.edge.routes import Backend, Route, get_route, nodes, publish, stored_routes
from tests.servers.caddy import EdgeWorld, start_backends

HOST = "app.example.test"


def route(world: EdgeWorld, backends: list[Backend], **kw: Any) -> Route:
    return Route(
        project_id=world.project_id,
        name=kw.pop("name", "web"),
        hosts=(kw.pop("host", HOST),),
        backends=tuple(backends),
        **kw,
    )


def get(world: EdgeWorld, client: httpx.Client, host: str = HOST, node: int = 0) -> httpx.Response:
    address = nodes(world.db, world.settings)[node].http_address  # type: ignore[arg-type]
    return client.get(f"http://{address}/", headers={"Host": host})


def wait_until(predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_round_robin_across_instances(edge: EdgeWorld) -> None:
    with start_backends("a", "b", "c") as bs, httpx.Client(timeout=10) as client:
        result = publish(edge.db, edge.settings, None, route(edge, [Backend(b.address) for b in bs]))  # type: ignore[arg-type]
        assert result.failed == {}
        assert result.version >= 1
        served = Counter(get(edge, client).headers["X-Backend"] for _ in range(30))
        assert served == {"a": 10, "b": 10, "c": 10}
        response = get(edge, client)
        assert response.headers["X-Codeforge-Upstream"] in {b.address for b in bs}
        assert [r.name for r in stored_routes(edge.db)] == ["web"]  # type: ignore[arg-type]
        assert get_route(edge.db, edge.project_id, "web") is not None  # type: ignore[arg-type]
        node = nodes(edge.db, edge.settings)[0]  # type: ignore[arg-type]
        assert (node.name, node.state, node.behind, node.version) == ("local", "up", False, result.version)
