"""The edge's Python API (docs/edge.md, "edge"): routes published to every edge node.

`publish` stores a route, bumps the config version and pushes the whole config (built from
every stored route) to every node in one admin-API `POST /load`, so each node changes
atomically. A node that does not answer is recorded behind (its version < the current one)
and reported in `PushResult.failed`; the supervisor's periodic check (nodes.py) gives it the
current config when it answers again. A config a node refuses leaves its previous config
live: `publish` puts the previous route back, pushes that, and raises `ExternalFailure`
with the node's reason.

Call `publish` and `withdraw` outside a write transaction of your own (SQLite allows one
writer, and they write in their own units of work)."""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select

from codeforge.catalog.edge import LB_POLICIES
from codeforge.catalog.errors import BadInput, Conflict, ExternalFailure, FieldProblem, NotFound
from codeforge.platform.db import utcnow
from codeforge.platform.edge.config import VERSION_ID, build_config
from codeforge.platform.edge.models import EdgeConfig, EdgeNodeRow, EdgeRoute
from codeforge.platform.edge.records import Backend, EdgeNode, PushResult, Route
from codeforge.platform.edge.settings import edge_settings

if TYPE_CHECKING:
    from codeforge.platform.crypto import Cipher
    from codeforge.platform.db import Database
    from codeforge.platform.settings import Settings

__all__ = [
    "LB_POLICIES",
    "Backend",
    "EdgeNode",
    "PushResult",
    "Route",
    "catch_up",
    "current_version",
    "get_route",
    "live_version",
    "nodes",
    "publish",
    "push",
    "stored_routes",
    "validate",
    "withdraw",
]

log = logging.getLogger("codeforge.edge")

REFUSED = "refused: "
UNREACHABLE = "unreachable: "
_HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_GROUP = re.compile(r"^[A-Za-z0-9._-]{0,63}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_PUSH_LOCK = threading.Lock()


# ---- validation ---------------------------------------------------------------------------


def _address_problem(address: str) -> str | None:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return "must be host:port with a port from 1 to 65535"
    host = host.strip("[]")
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return None
    if not _HOST.match(host.lower()) or host.startswith("*"):
        return "the host must be an IP address or a hostname"
    return None


def validate(route: Route) -> Route:
    """The route normalized (hosts lowercased, `http://` dropped from backends), or BadInput
    naming every field that is wrong and how to put it right."""
    problems: list[FieldProblem] = []
    if not _NAME.match(route.name or ""):
        problems.append(FieldProblem("name", "not a route name", "use lowercase letters, digits and dashes"))
    hosts = tuple(h.strip().lower().rstrip(".") for h in route.hosts)
    if not hosts:
        problems.append(FieldProblem("hosts", "no hostname", "give at least one hostname the route answers"))
    if len(hosts) > 50:
        problems.append(FieldProblem("hosts", f"{len(hosts)} hostnames", "give at most 50"))
    for host in hosts:
        if len(host) > 253 or not _HOST.match(host):
            problems.append(FieldProblem("hosts", f"{host!r} is not a hostname", "write it like app.example.com"))
    if len(set(hosts)) != len(hosts):
        problems.append(FieldProblem("hosts", "a hostname is given twice", "give each hostname once"))
    backends = tuple(replace(b, address=b.address.strip().removeprefix("http://").rstrip("/")) for b in route.backends)
    if not backends:
        problems.append(FieldProblem("backends", "no backend", "give at least one backend as host:port"))
    if len(backends) > 100:
        problems.append(FieldProblem("backends", f"{len(backends)} backends", "give at most 100"))
    for i, b in enumerate(backends):
        if (why := _address_problem(b.address)) is not None:
            problems.append(
                FieldProblem(f"backends[{i}].address", f"{b.address!r}: {why}", "write it like 10.0.0.5:8000")
            )
        if not isinstance(b.weight, int) or not 0 <= b.weight <= 1000:
            problems.append(
                FieldProblem(f"backends[{i}].weight", f"weight {b.weight!r}", "use a whole number 0 to 1000")
            )
        if not _GROUP.match(b.group or ""):
            problems.append(FieldProblem(f"backends[{i}].group", f"group {b.group!r}", "use letters, digits, . _ -"))
    if len({b.address for b in backends}) != len(backends):
        problems.append(FieldProblem("backends", "a backend is given twice", "give each address once"))
    if backends and all(isinstance(b.weight, int) and b.weight == 0 for b in backends):
        problems.append(FieldProblem("backends", "every backend has weight 0", "give one backend a weight above 0"))
    if route.lb_policy not in LB_POLICIES:
        problems.append(
            FieldProblem("lb_policy", f"unknown policy {route.lb_policy!r}", f"use one of {', '.join(LB_POLICIES)}")
        )
    if route.health_path is not None and (
        not route.health_path.startswith("/") or any(c.isspace() for c in route.health_path)
    ):
        problems.append(FieldProblem("health_path", f"{route.health_path!r}", "give a path starting with /, or none"))
    if not 0.1 <= route.health_interval_s <= 3600:
        problems.append(FieldProblem("health_interval_s", f"{route.health_interval_s}", "use 0.1 to 3600 seconds"))
    if problems:
        raise BadInput(f"route {route.name!r} is not valid", errors=problems)
    return replace(route, hosts=hosts, backends=backends)


# ---- stored state -------------------------------------------------------------------------


def stored_routes(db: Database) -> list[Route]:
    with db.session() as s:
        return [
            Route.from_json(r.spec) for r in s.scalars(select(EdgeRoute).order_by(EdgeRoute.created_at, EdgeRoute.id))
        ]


def get_route(db: Database, project_id: str, name: str) -> Route | None:
    with db.session() as s:
        row = s.scalar(select(EdgeRoute).where(EdgeRoute.project_id == project_id, EdgeRoute.name == name))
        return Route.from_json(row.spec) if row else None


def current_version(db: Database) -> int:
    with db.session() as s:
        row = s.get(EdgeConfig, 1)
        return row.version if row else 0


def _bump(s: Any) -> int:
    row = s.get(EdgeConfig, 1, with_for_update=True)
    if row is None:
        row = EdgeConfig(id=1, version=0)
        s.add(row)
    row.version += 1
    s.flush()
    return int(row.version)


def _node_of(row: EdgeNodeRow, current: int) -> EdgeNode:
    return EdgeNode(
        name=row.name,
        region=row.region,
        admin_url=row.admin_url,
        http_address=row.http_address,
        https_address=row.https_address,
        cache_address=row.cache_address,
        lb_address=row.lb_address,
        version=row.version,
        state=row.state,
        behind=row.version < current,
        error=row.error,
        access_log=row.access_log,
    )


def nodes(db: Database, settings: Settings) -> list[EdgeNode]:
    """The configured nodes that have been started (by this or another replica), in the
    order of CODEFORGE_EDGE_NODES."""
    names = [s.name for s in edge_settings().node_specs()]
    with db.session() as s:
        rows = {r.name: r for r in s.scalars(select(EdgeNodeRow).where(EdgeNodeRow.name.in_(names)))}
        row = s.get(EdgeConfig, 1)
        current = row.version if row else 0
        return [_node_of(rows[n], current) for n in names if n in rows]


# ---- pushing ------------------------------------------------------------------------------


def _certificates(
    db: Database, settings: Settings, cipher: Cipher | None, routes: list[Route]
) -> dict[str, tuple[str, str]]:
    """(chain, key) per hostname: from the certificates capability, else from PEM files an
    operator put in <data dir>/edge/certificates (`<host>.crt` and `<host>.key`; a wildcard
    as `_wildcard.<parent>`)."""
    # The certificates capability is optional here: without it, only the operator's files.
    pem_for: Callable[[Database, Cipher, str], tuple[str, str] | None] | None
    try:
        pem_for = importlib.import_module("codeforge.platform.certificates.store").pem_for
    except (ImportError, AttributeError):
        pem_for = None
    folder = Path(settings.data_dir) / "edge" / "certificates"
    found: dict[str, tuple[str, str]] = {}
    for host in sorted({h for r in routes for h in r.hosts}):
        if pem_for is not None and cipher is not None:
            try:
                pem = pem_for(db, cipher, host)
            except Exception:
                log.exception("certificate lookup failed", extra={"host": host})
                pem = None
            if pem is not None:
                found[host] = pem
                continue
        stem = host.replace("*", "_wildcard")
        crt, key = folder / f"{stem}.crt", folder / f"{stem}.key"
        if crt.is_file() and key.is_file():
            found[host] = (crt.read_text(), key.read_text())
    return found


def _admin_listen(admin_url: str) -> str:
    return admin_url.removeprefix("http://").rstrip("/")


def _post_load(admin_url: str, config: dict[str, Any]) -> str | None:
    """None when the node took the config; else why not."""
    try:
        resp = httpx.post(f"{admin_url}/load", json=config, timeout=15.0)
    except httpx.HTTPError as exc:
        return f"{UNREACHABLE}{exc or type(exc).__name__}"
    if resp.status_code >= 400:
        try:
            why = str(resp.json().get("error") or resp.text)
        except ValueError:
            why = resp.text
        return f"{REFUSED}{why.strip()}"
    return None


def push(db: Database, settings: Settings, cipher: Cipher | None = None, only: list[str] | None = None) -> PushResult:
    """Push the current config to every node (or those named in `only`), recording what each
    holds. One push at a time in this process, each building from what is stored when it
    runs, so a slower push never leaves an older config on a node."""
    with _PUSH_LOCK:
        cipher = cipher or _cipher(settings)
        routes = stored_routes(db)
        version = current_version(db)
        targets = [n for n in nodes(db, settings) if only is None or n.name in only]
        certs = _certificates(db, settings, cipher, routes)
        platform = f"{settings.host}:{settings.port}"
        failed: dict[str, str] = {}
        outcome: dict[str, str | None] = {}
        for node in targets:
            config = build_config(
                node,
                routes,
                certs,
                platform_address=platform,
                admin_listen=_admin_listen(node.admin_url),
                access_log=node.access_log or str(Path(settings.data_dir) / "edge" / node.name / "access.log"),
                version=version,
            )
            why = _post_load(node.admin_url, config)
            outcome[node.name] = why
            if why is not None:
                failed[node.name] = why
                log.warning(
                    "edge node did not take the config", extra={"node": node.name, "version": version, "error": why}
                )
        with db.session() as s:
            for name, why in outcome.items():
                row = s.get(EdgeNodeRow, name)
                if row is None:
                    continue
                row.checked_at = utcnow()
                if why is None:
                    row.version, row.state, row.error = max(version, row.version), "up", ""
                elif why.startswith(UNREACHABLE):
                    row.state, row.error = "down", why
                else:
                    row.state, row.error = "up", why
        return PushResult(version, failed)


def live_version(admin_url: str) -> int | None:
    """The config version a node holds, read from the node (0: none of ours); None when its
    admin API does not answer."""
    try:
        resp = httpx.get(f"{admin_url}/config/apps/http/servers/http/@id", timeout=5.0)
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return 0
    try:
        text = str(resp.json() or "")
    except ValueError:
        return 0
    digits = text.removeprefix(VERSION_ID)
    return int(digits) if text.startswith(VERSION_ID) and digits.isdigit() else 0


def _cipher(settings: Settings) -> Cipher:
    from codeforge.platform.crypto import Cipher

    return Cipher(settings.fernet_key())


def catch_up(db: Database, settings: Settings, cipher: Cipher | None) -> PushResult:
    """Push the current config to the nodes that are behind (the periodic check)."""
    behind = [n.name for n in nodes(db, settings) if n.behind]
    if not behind:
        return PushResult(current_version(db))
    return push(db, settings, cipher, only=behind)


def _store(db: Database, project_id: str, name: str, spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """Put `spec` (None: delete) as the route, bump the version; the previous spec."""
    with db.session() as s:
        row = s.scalar(select(EdgeRoute).where(EdgeRoute.project_id == project_id, EdgeRoute.name == name))
        previous = dict(row.spec) if row is not None else None
        version = _bump(s)
        if spec is None:
            if row is not None:
                s.delete(row)
        elif row is None:
            s.add(EdgeRoute(project_id=project_id, name=name, spec=spec, version=version))
        else:
            row.spec, row.version = spec, version
        return previous


def _check_hosts(db: Database, route: Route) -> None:
    with db.session() as s:
        for row in s.scalars(select(EdgeRoute)):
            if row.project_id == route.project_id and row.name == route.name:
                continue
            taken = set(row.spec.get("hosts") or ()) & set(route.hosts)
            if taken:
                whose = f"route {row.name!r} of this project" if row.project_id == route.project_id else "another route"
                raise Conflict(
                    f"{', '.join(sorted(taken))} is served by {whose} already",
                    fix="withdraw that route or give this one other hostnames",
                )


def _refused(result: PushResult) -> dict[str, str]:
    return {n: e for n, e in result.failed.items() if e.startswith(REFUSED)}


def publish(db: Database, settings: Settings, cipher: Cipher | None, route: Route) -> PushResult:
    """Store the route (replacing one of the same project and name) and push to every node."""
    route = validate(route)
    _check_hosts(db, route)
    previous = _store(db, route.project_id, route.name, route.as_json())
    result = push(db, settings, cipher)
    if refused := _refused(result):
        _store(db, route.project_id, route.name, previous)  # put back what was live
        push(db, settings, cipher)
        node, why = next(iter(refused.items()))
        raise ExternalFailure(
            f"edge node {node!r} refused the config with route {route.name!r}, so the previous config stays live: "
            f"{why.removeprefix(REFUSED)}",
            fix="correct what the node names (a certificate, an address) and publish again",
        )
    return result


def withdraw(db: Database, settings: Settings, project_id: str, name: str) -> PushResult:
    """Remove the route from every node."""
    if get_route(db, project_id, name) is None:
        raise NotFound(f"no edge route {name!r}", fix="list the routes with `edge routes`")
    _store(db, project_id, name, None)
    return push(db, settings, _cipher(settings))
