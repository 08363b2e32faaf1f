"""Traffic through the edge (docs/edge.md, docs/deployments.md "Traffic"): a deployment is one
edge route, `deploy-<name>`, whose backends are the serving releases' instances, each tagged
with its release's id as the backend group (so the edge's metrics say which release answered).
Every change of split is one `publish`, atomic per edge node."""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Sequence
from math import gcd
from typing import Any

from codeforge.catalog.errors import ExternalFailure, NotFound, PlatformUnavailable
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import Database
from codeforge.platform.deployments.instances import Instance
from codeforge.platform.settings import Settings

__all__ = ["Split", "edge_regions", "publish_split", "register_db", "route_name", "weights", "withdraw_route"]

log = logging.getLogger("codeforge.deployments")
_CATCH_UP_S = 15.0  # how long a publish no node took is retried before the rollout halts

_DBS: dict[str, Database] = {}
_LOCK = threading.Lock()

# (release id, its instances, its share in percent)
Split = Sequence[tuple[str, Sequence[Instance], float]]


def register_db(settings: Settings, db: Database) -> None:
    """The platform's Database, for the edge's API (the capability's background service calls this)."""
    with _LOCK:
        _DBS[settings.resolved_database_url] = db


def _db(settings: Settings) -> Database:
    with _LOCK:
        db = _DBS.get(settings.resolved_database_url)
        if db is None:
            db = _DBS[settings.resolved_database_url] = Database(settings.resolved_database_url)
        return db


def _edge() -> Any:
    try:
        return importlib.import_module("codeforge.platform.edge.routes")
    except ImportError as exc:
        raise PlatformUnavailable(
            f"the edge capability is not installed here ({exc})",
            fix="install a CodeForge with the edge capability (docs/edge.md) and add an edge node",
        ) from exc


def route_name(deployment: str) -> str:
    return f"deploy-{deployment}"


def weights(split: Split) -> list[tuple[str, Instance, int]]:
    """Integer weights giving each release its share, spread evenly over its instances."""
    parts = [(rid, list(insts), share) for rid, insts, share in split if insts and share > 0]
    if not parts:
        return []
    # weight of one instance of a release = share * (product of the others' instance counts)
    counts = [len(insts) for _, insts, _ in parts]
    total = 1
    for c in counts:
        total *= c
    raw = [(rid, insts, round(share * 10) * (total // len(insts))) for rid, insts, share in parts]
    g = 0
    for _, _, w in raw:
        g = gcd(g, w)
    g = g or 1
    reduced = [(rid, insts, w // g) for rid, insts, w in raw]
    top = max(w for _, _, w in reduced)
    if top > 1000:  # the edge takes weights up to 1000
        reduced = [(rid, insts, round(w * 1000 / top)) for rid, insts, w in reduced]
    return [(rid, inst, max(1, w)) for rid, insts, w in reduced for inst in insts]


def publish_split(
    settings: Settings, cipher: Cipher, project_id: str, deployment: str, hosts: Sequence[str], split: Split,
    health_path: str, *, wait: bool = True,
) -> None:  # fmt: skip
    """Route the deployment's traffic as `split` says, on every edge node at once."""
    edge = _edge()
    backends = tuple(edge.Backend(inst.address, w, rid) for rid, inst, w in weights(split))
    if not backends:
        withdraw_route(settings, project_id, deployment)
        return
    route = edge.Route(
        project_id=project_id, name=route_name(deployment), hosts=tuple(hosts), backends=backends,
        health_path=health_path, health_interval_s=1.0,
    )  # fmt: skip
    db = _db(settings)
    result = edge.publish(db, settings, cipher, route)
    failed = dict(getattr(result, "failed", {}) or {})
    # A node that did not answer takes the route when it answers again (it is "behind"); a
    # refusal raised in publish. Only no node at all taking it stops the rollout.
    if not wait:  # the nodes take it when their supervisor pushes the stored routes
        return
    deadline = time.monotonic() + _CATCH_UP_S
    while failed and len(failed) >= len(edge.nodes(db, settings)) and time.monotonic() < deadline:
        time.sleep(0.5)  # a node restarting (its supervisor does that) takes the route once it answers
        failed = dict(getattr(edge.catch_up(db, settings, cipher), "failed", {}) or {})
    if failed and len(failed) >= len(edge.nodes(db, settings)):
        detail = "; ".join(f"{node}: {err}" for node, err in sorted(failed.items()))
        raise ExternalFailure(
            f"no edge node took the route of {deployment!r}: {detail}",
            fix="check the edge nodes (`edge nodes`); they take the route when they answer again",
        )
    if failed:
        log.warning("edge nodes behind", extra={"deployment": deployment, "nodes": sorted(failed)})


def withdraw_route(settings: Settings, project_id: str, deployment: str) -> None:
    edge = _edge()
    with contextlib.suppress(NotFound):  # never published, or withdrawn already
        edge.withdraw(_db(settings), settings, project_id, route_name(deployment))


def edge_regions(settings: Settings) -> set[str] | None:
    """The edge nodes' regions; None when the edge is not installed here."""
    try:
        edge = _edge()
    except PlatformUnavailable:
        return None
    return {str(getattr(n, "region", "") or "") for n in edge.nodes(_db(settings), settings)}
