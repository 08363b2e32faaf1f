"""A node's whole Caddy config (JSON, for the admin API's `POST /load`) built from the stored
routes: the plain-HTTP server (ACME HTTP-01 challenges to the platform, then the routes), the
HTTPS server (certificates loaded with `load_pem`, HTTP/1.1, HTTP/2 and HTTP/3), the internal
load-balancing server the cache sits in front of, and JSON access logs to the node's file.

Every route's handler appends its route (`cf_route`) and the upstream that served
(`cf_upstream`) to the access-log entry and sets `X-Codeforge-Upstream` on the response, so
traffic.py can count requests per route and backend group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codeforge.platform.edge.records import EdgeNode, Route

__all__ = ["UPSTREAM_HEADER", "VERSION_ID", "build_config"]

UPSTREAM_HEADER = "X-Codeforge-Upstream"
VERSION_ID = "codeforge-edge-v"
ROUTE_FIELD = "cf_route"
UPSTREAM_FIELD = "cf_upstream"
_UPSTREAM = "{http.reverse_proxy.upstream.hostport}"


def _duration(seconds: float) -> str:
    return f"{max(int(seconds * 1000), 1)}ms"


def route_key(route: Route) -> str:
    return f"{route.project_id}/{route.name}"


def _proxy(route: Route, upstreams: Sequence[str] | None = None) -> dict[str, Any]:
    """The reverse_proxy handler to the route's backends (or to `upstreams`: the cache hop)."""
    handler: dict[str, Any] = {
        "handler": "reverse_proxy",
        "headers": {"response": {"set": {UPSTREAM_HEADER: [_UPSTREAM]}}},
    }
    if upstreams is not None:
        # The node's cache first; when it is not running, the internal LB listener directly.
        handler["upstreams"] = [{"dial": u} for u in upstreams]
        handler["load_balancing"] = {
            "selection_policy": {"policy": "first"},
            "try_duration": "2s",
            "try_interval": "50ms",
        }
        handler["health_checks"] = {"passive": {"fail_duration": "5s", "max_fails": 1}}
        return handler
    live = [b for b in route.backends if b.weight > 0]  # weight 0: drained, out of the rotation
    weighted = any(b.weight != 1 for b in route.backends)
    policy: dict[str, Any] = {"policy": "weighted_round_robin" if weighted else route.lb_policy}
    if weighted:
        policy["weights"] = [b.weight for b in live]
    handler["upstreams"] = [{"dial": b.address} for b in live]
    handler["load_balancing"] = {
        "selection_policy": policy,
        # A request whose backend refuses the connection tries another for up to 2 s, so a
        # backend dying (or leaving in a switch) between health checks fails no request.
        "try_duration": "2s",
        "try_interval": "50ms",
    }
    checks: dict[str, Any] = {"passive": {"fail_duration": "10s", "max_fails": 1}}
    if route.health_path:
        checks["active"] = {
            "uri": route.health_path,
            "interval": _duration(route.health_interval_s),
            "timeout": _duration(max(route.health_interval_s, 1.0)),
        }
    handler["health_checks"] = checks
    return handler


def _route(route: Route, proxy: dict[str, Any]) -> dict[str, Any]:
    return {
        "match": [{"host": list(route.hosts)}],
        "handle": [
            {"handler": "log_append", "key": ROUTE_FIELD, "value": route_key(route)},
            {"handler": "log_append", "key": UPSTREAM_FIELD, "value": _UPSTREAM},
            proxy,
        ],
        "terminal": True,
    }


def _front_routes(node: EdgeNode, routes: Sequence[Route]) -> list[dict[str, Any]]:
    out = []
    for route in routes:
        if route.cached:
            hops = [a for a in (node.cache_address, node.lb_address) if a]
            out.append(_route(route, _proxy(route, hops)))
        else:
            out.append(_route(route, _proxy(route)))
    return out


# Last on the front servers: a host no route answers gets a 404 saying so (Caddy's own answer
# to an unmatched request is an empty 200).
_NO_ROUTE: dict[str, Any] = {
    "handle": [
        {
            "handler": "static_response",
            "status_code": 404,
            "headers": {"Content-Type": ["text/plain; charset=utf-8"]},
            "body": "no edge route for this host\n",
        }
    ]
}


def build_config(
    node: EdgeNode,
    routes: Sequence[Route],
    certificates: Mapping[str, tuple[str, str]],
    *,
    platform_address: str,
    admin_listen: str,
    access_log: str,
    version: int = 0,
) -> dict[str, Any]:
    """The node's whole config. `certificates` maps a hostname to its (chain, key) PEM;
    `platform_address` (host:port) answers ACME HTTP-01 challenges."""
    acme = {
        "match": [{"path": ["/.well-known/acme-challenge/*"]}],
        "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": platform_address}]}],
        "terminal": True,
    }
    front = [*_front_routes(node, routes), _NO_ROUTE]
    servers: dict[str, Any] = {
        "http": {
            # The config version, readable back from the node (`live_version`): a node that
            # holds another config than its record says (a slower push, a restart) is found.
            "@id": f"{VERSION_ID}{version}",
            "listen": [node.http_address],
            "automatic_https": {"disable": True},
            "routes": [acme, *front],
            "logs": {},
        },
        "https": {
            "listen": [node.https_address],
            "automatic_https": {"disable": True},
            "protocols": ["h1", "h2", "h3"],
            "tls_connection_policies": [{}],
            "routes": front,
            "logs": {},
        },
        "lb": {
            "listen": [node.lb_address],
            "automatic_https": {"disable": True},
            # Not logged: the front server's entry counts a cached request once.
            "routes": [_route(r, _proxy(r)) for r in routes if r.cached],
        },
    }
    apps: dict[str, Any] = {"http": {"servers": servers}}
    pems = [{"certificate": chain, "key": key, "tags": [host]} for host, (chain, key) in sorted(certificates.items())]
    if pems:
        apps["tls"] = {"certificates": {"load_pem": pems}}
    return {
        "admin": {"listen": admin_listen, "config": {"persist": False}},
        "logging": {
            "logs": {
                "default": {"exclude": ["http.log.access"]},
                "access": {
                    "writer": {"output": "file", "filename": access_log, "roll_size_mb": 100, "roll_keep": 3},
                    "encoder": {"format": "json"},
                    "include": ["http.log.access"],
                },
            }
        },
        "apps": apps,
    }
