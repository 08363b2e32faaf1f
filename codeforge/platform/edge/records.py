"""The edge's records (docs/edge.md, "edge"): a route, its backends, a node and what a push
did. Imported by routes.py (where others import them from) and config.py."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Backend", "EdgeNode", "PushResult", "Route"]


@dataclass(frozen=True)
class Backend:
    address: str  # host:port the node dials
    weight: int = 1
    group: str = ""  # a release id: traffic is counted per group


@dataclass(frozen=True)
class Route:
    project_id: str
    name: str
    hosts: tuple[str, ...]
    backends: tuple[Backend, ...]
    lb_policy: str = "round_robin"  # Caddy's policies; any weight != 1 means weighted_round_robin
    health_path: str | None = "/"
    health_interval_s: float = 1.0
    cached: bool = False  # through the node's cache (cache capability)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["hosts"] = list(self.hosts)
        data["backends"] = [asdict(b) for b in self.backends]
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> Route:
        return Route(
            project_id=str(data["project_id"]),
            name=str(data["name"]),
            hosts=tuple(data.get("hosts") or ()),
            backends=tuple(Backend(**b) for b in data.get("backends") or ()),
            lb_policy=str(data.get("lb_policy") or "round_robin"),
            health_path=data.get("health_path"),
            health_interval_s=float(data.get("health_interval_s") or 1.0),
            cached=bool(data.get("cached")),
        )


@dataclass(frozen=True)
class PushResult:
    version: int
    failed: dict[str, str] = field(default_factory=dict)  # node name -> why it did not take the config


@dataclass(frozen=True)
class EdgeNode:
    name: str
    region: str
    admin_url: str
    http_address: str
    https_address: str
    cache_address: str
    lb_address: str
    version: int = 0  # config version it holds
    state: str = ""  # up | down | starting
    behind: bool = False
    error: str = ""
    access_log: str = ""
