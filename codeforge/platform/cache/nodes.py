"""The cache's view of the edge: its nodes (where each Varnish listens and what it forwards to)
and the routes published with `cached` on (their hosts). The edge capability is optional
here: without it there are no nodes and no cached routes, and operations say so."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from codeforge.platform.settings import Settings

__all__ = [
    "CacheNode",
    "CachedRoute",
    "cache_nodes",
    "cached_routes",
    "edge_installed",
    "node_workdir",
    "project_routes",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class CacheNode:
    name: str
    listen: str  # the edge node's cache_address
    backend: str  # the edge node's lb_address
    workdir: Path


@dataclass(frozen=True)
class CachedRoute:
    project_id: str
    name: str
    hosts: tuple[str, ...]
    cached: bool = True


def node_workdir(settings: Settings, name: str) -> Path:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a node name")
    return Path(settings.data_dir) / "cache" / "nodes" / name


def _edge(part: str) -> Any | None:
    try:
        return importlib.import_module(f"codeforge.platform.edge.{part}")
    except ImportError:
        return None


def cache_nodes(session: Session, settings: Settings) -> list[CacheNode]:
    """Every configured edge node, started, that has a cache address and a load-balancing
    listener, in the order of CODEFORGE_EDGE_NODES (as the edge's `routes.nodes`)."""
    models, edge_settings = _edge("models"), _edge("settings")
    if models is None or edge_settings is None:
        return []
    names = [spec.name for spec in edge_settings.edge_settings().node_specs()]
    rows = {r.name: r for r in session.scalars(select(models.EdgeNodeRow).where(models.EdgeNodeRow.name.in_(names)))}
    found: list[CacheNode] = []
    for name in names:
        row = rows.get(name)
        if row is not None and row.cache_address and row.lb_address:
            found.append(CacheNode(name, row.cache_address, row.lb_address, node_workdir(settings, name)))
    return found


def _routes(session: Session) -> list[Any]:
    models, routes = _edge("models"), _edge("routes")
    if models is None or routes is None:
        return []
    query = select(models.EdgeRoute).order_by(models.EdgeRoute.created_at, models.EdgeRoute.id)
    return [routes.Route.from_json(row.spec) for row in session.scalars(query)]


def cached_routes(session: Session) -> list[CachedRoute]:
    """The routes published with `cached` on, in the edge's order."""
    return [CachedRoute(r.project_id, r.name, tuple(r.hosts)) for r in _routes(session) if r.cached]


def project_routes(session: Session, project_id: str) -> list[CachedRoute]:
    """Every route of the project the edge has, cached or not."""
    return [
        CachedRoute(r.project_id, r.name, tuple(r.hosts), bool(r.cached))
        for r in _routes(session)
        if r.project_id == project_id
    ]


def edge_installed() -> bool:
    return _edge("routes") is not None
