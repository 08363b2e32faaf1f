"""The edge: Caddy nodes (one per region) in front of a project's backends, and the routes a
project publishes to them: hostnames, backends with weights and groups, load balancing and
health checks (docs/edge.md, docs/edge-asbuilt.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic.json_schema import JsonDict

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare

__all__ = [
    "LB_POLICIES",
    "NODES",
    "PUBLISH",
    "PUSH",
    "ROUTES",
    "ROUTE_NAME_PATTERN",
    "ROUTE_SHOW",
    "WITHDRAW",
    "BackendSpec",
    "NodeInfo",
    "NodeList",
    "PublishInput",
    "PushOutcome",
    "RouteInfo",
    "RouteList",
]

ROUTE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
ROUTE_VALUES: JsonDict = {"x-codeforge-values": "edge.routes#name"}
LB_POLICIES = (
    "round_robin",
    "weighted_round_robin",
    "least_conn",
    "random",
    "first",
    "ip_hash",
    "client_ip_hash",
    "uri_hash",
)


class BackendSpec(BaseModel):
    model_config = {"extra": "forbid"}

    address: str = Field(
        min_length=3, max_length=260, description="Where the node sends requests: host:port, like 10.0.0.5:8000."
    )
    weight: int = Field(default=1, ge=0, le=1000, description="Share of requests; 0 drains the backend.")
    group: str = Field(
        default="",
        max_length=63,
        pattern=r"^[A-Za-z0-9._-]*$",
        description="A release id: traffic is counted per group.",
    )


class NodesInput(ProjectInput):
    pass


class ListInput(ProjectInput):
    pass


class NameInput(ProjectInput):
    name: str = Field(pattern=ROUTE_NAME_PATTERN, description="The route's name.", json_schema_extra=ROUTE_VALUES)


class PublishInput(ProjectInput):
    name: str = Field(
        pattern=ROUTE_NAME_PATTERN, description="Name of the route (a-z, 0-9, '-'); an existing one is replaced."
    )
    hosts: list[str] = Field(
        min_length=1,
        max_length=50,
        description="Hostnames the route answers, like app.example.com (a wildcard as *.example.com).",
    )
    backends: list[BackendSpec] = Field(min_length=1, max_length=100, description="The backends requests go to.")
    lb_policy: str = Field(
        default="round_robin",
        description=f"How requests are spread: {', '.join(LB_POLICIES)} (weights other than 1 mean weighted_round_robin).",
        json_schema_extra={"enum": list(LB_POLICIES)},
    )
    health_path: str | None = Field(
        default="/", max_length=500, description="Path each node checks on every backend (none: no active check)."
    )
    health_interval_s: float = Field(default=1.0, ge=0.1, le=3600, description="Seconds between health checks.")
    cached: bool = Field(default=False, description="Through each node's cache (the cache capability).")


class NodeInfo(BaseModel):
    name: str
    region: str
    state: str  # up | down | starting
    version: int  # the config version it holds
    behind: bool  # holds an older config than the current one
    error: str
    http_address: str
    https_address: str


class NodeList(BaseModel):
    version: int  # the config version every node should hold
    items: list[NodeInfo]


class RouteInfo(BaseModel):
    name: str
    hosts: list[str]
    backends: list[BackendSpec]
    lb_policy: str
    health_path: str | None
    health_interval_s: float
    cached: bool
    version: int  # the config version that last changed it


class RouteList(BaseModel):
    items: list[RouteInfo]


class PushOutcome(BaseModel):
    version: int
    failed: dict[str, str] = Field(default_factory=dict, description="Nodes that did not take the config, and why.")


NODES = declare(
    Operation(
        name="edge.nodes",
        title="List edge nodes (state, config version, behind)",
        input=NodesInput,
        output=NodeList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
ROUTES = declare(
    Operation(
        name="edge.routes",
        title="List the project's edge routes",
        input=ListInput,
        output=RouteList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
ROUTE_SHOW = declare(
    Operation(
        name="edge.route_show",
        title="Show an edge route",
        input=NameInput,
        output=RouteInfo,
        permission=Permission.VIEW,
        target="{project}/{name}",
    )
)
PUBLISH = declare(
    Operation(
        name="edge.publish",
        title="Publish an edge route to every node",
        input=PublishInput,
        output=PushOutcome,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
WITHDRAW = declare(
    Operation(
        name="edge.withdraw",
        title="Withdraw an edge route from every node",
        input=NameInput,
        output=PushOutcome,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{name}",
    )
)
PUSH = declare(
    Operation(
        name="edge.push",
        title="Push the current edge config to every node again",
        input=ListInput,
        output=PushOutcome,
        permission=Permission.EDIT,
        target="{project}",
    )
)
