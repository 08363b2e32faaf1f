"""Routes through real Caddy nodes: round robin, health checks, weighted split, a switch of
all traffic from one group to another under load, and what a publish reports."""

from __future__ import annotations

import threading
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
    address = nodes(world.db, world.settings)[node].http_address
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
        result = publish(edge.db, edge.settings, None, route(edge, [Backend(b.address) for b in bs]))
        assert result.failed == {}
        assert result.version >= 1
        served = Counter(get(edge, client).headers["X-Backend"] for _ in range(30))
        assert served == {"a": 10, "b": 10, "c": 10}
        response = get(edge, client)
        assert response.headers["X-Codeforge-Upstream"] in {b.address for b in bs}
        assert [r.name for r in stored_routes(edge.db)] == ["web"]
        assert get_route(edge.db, edge.project_id, "web") is not None
        node = nodes(edge.db, edge.settings)[0]
        assert (node.name, node.state, node.behind, node.version) == ("local", "up", False, result.version)


def test_health_check_takes_a_dead_backend_out(edge: EdgeWorld) -> None:
    with start_backends("a", "b") as (a, b), httpx.Client(timeout=10) as client:
        spec = route(edge, [Backend(a.address), Backend(b.address)], health_path="/health", health_interval_s=0.2)
        publish(edge.db, edge.settings, None, spec)
        assert wait_until(lambda: {get(edge, client).headers["X-Backend"] for _ in range(4)} == {"a", "b"})
        b.healthy = False  # b answers, but its health check fails: out of the rotation
        assert wait_until(lambda: all(get(edge, client).headers["X-Backend"] == "a" for _ in range(6)))
        b.healthy = True
        assert wait_until(lambda: "b" in {get(edge, client).headers["X-Backend"] for _ in range(6)})
        a.stop()  # a dies: the passive check and retries keep every request served
        codes = Counter(get(edge, client).status_code for _ in range(20))
        assert codes == {200: 20}


def test_weighted_split_90_10(edge: EdgeWorld) -> None:
    with start_backends("stable", "canary") as (stable, canary), httpx.Client(timeout=10) as client:
        spec = route(edge, [Backend(stable.address, 9, "r1"), Backend(canary.address, 1, "r2")])
        publish(edge.db, edge.settings, None, spec)
        served = Counter(get(edge, client).headers["X-Backend"] for _ in range(1000))
        assert served["stable"] + served["canary"] == 1000
        assert 70 <= served["canary"] <= 130, served  # about 10 %


def test_switch_all_weight_from_a_to_b_under_load_fails_no_request(edge: EdgeWorld) -> None:
    with start_backends("a1", "a2", "b1", "b2") as (a1, a2, b1, b2):
        blue = [Backend(a1.address, 1, "blue"), Backend(a2.address, 1, "blue")]
        green = [Backend(b1.address, 1, "green"), Backend(b2.address, 1, "green")]
        publish(edge.db, edge.settings, None, route(edge, blue, health_path="/health", health_interval_s=0.5))
        address = nodes(edge.db, edge.settings)[0].http_address
        stop = threading.Event()
        seen: list[tuple[float, int, str]] = []
        errors: list[str] = []

        retried: list[str] = []

        def load() -> None:
            # Keep-alive clients, as browsers are. A reload closes the old server's idle
            # connections, and a GET sent on one at that instant meets a reset: HTTP/1.1
            # clients retry an idempotent request once on a reused connection the server
            # closed (RFC 9112, 9.3.1; browsers and Go's client do), and so does this one.
            # A request failing on its retry, or any status but 200, is a failed request.
            with httpx.Client(timeout=10) as c:
                while not stop.is_set():
                    for attempt in (1, 2):
                        try:
                            r = c.get(f"http://{address}/", headers={"Host": HOST})
                            seen.append((time.monotonic(), r.status_code, r.headers.get("X-Backend", "")))
                            break
                        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                            if attempt == 2:
                                errors.append(repr(exc))
                            else:
                                retried.append(repr(exc))
                        except httpx.HTTPError as exc:
                            errors.append(repr(exc))
                            break

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            assert wait_until(lambda: len(seen) > 50)
            switched_at = time.monotonic()
            weights = [Backend(b.address, 0, "blue") for b in blue] + [Backend(b.address, 1, "green") for b in green]
            result = publish(
                edge.db, edge.settings, None, route(edge, weights, health_path="/health", health_interval_s=0.5)
            )
            assert result.failed == {}
            assert wait_until(lambda: len([s for s in seen if s[0] > switched_at]) > 100)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert errors == []
        assert {code for _, code, _ in seen} == {200}
        after = [who for t, _, who in seen if t > switched_at]
        # Measured, not asserted: from the publish to the last request a blue backend served.
        last_blue = max((t for t, _, who in seen if who.startswith("a")), default=switched_at)
        print(
            f"\npublish to all traffic on green: {max(last_blue - switched_at, 0) * 1000:.1f} ms, "
            f"{len(seen)} requests, {len(retried)} retried on a connection the reload closed"
        )
        assert set(after[-50:]) <= {"b1", "b2"}


def test_a_cached_route_without_a_cache_goes_through_the_lb_listener(edge: EdgeWorld) -> None:
    """On a node whose cache is not running, a cached route reaches its backends through the
    node's internal LB listener (the hop the cache sits in front of)."""
    with start_backends("c1", "c2") as bs, httpx.Client(timeout=10) as client:
        spec = route(edge, [Backend(b.address) for b in bs], name="cached", host="c.example.test", cached=True)
        assert publish(edge.db, edge.settings, None, spec).failed == {}
        served = Counter(get(edge, client, host="c.example.test").headers["X-Backend"] for _ in range(6))
        assert served == {"c1": 3, "c2": 3}
        node = nodes(edge.db, edge.settings)[0]
        direct = client.get(f"http://{node.lb_address}/", headers={"Host": "c.example.test"})
        assert direct.headers["X-Backend"] in {"c1", "c2"}
        # The front hop names the LB listener as its upstream; the LB hop names the backend.
        assert get(edge, client, host="c.example.test").headers.get_list("X-Codeforge-Upstream")
