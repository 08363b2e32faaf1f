"""The edge's operations: thin, over routes.py. A route's hostnames must be the project's:
under one of its verified domains (the domains capability), or `localhost` names."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codeforge.catalog import edge as E
from codeforge.catalog.errors import BadInput, FieldProblem, NotFound
from codeforge.platform.context import Context
from codeforge.platform.db import conflict_of
from codeforge.platform.edge import routes
from codeforge.platform.edge.models import EdgeRoute
from codeforge.platform.registry import implements

if TYPE_CHECKING:
    from codeforge.platform.db import Database

__all__: list[str] = []


class _Side:
    """Units of work beside the operation's own (routes.py writes and pushes in its own)."""

    def __init__(self, ctx: Context) -> None:
        self.bind = ctx.session.get_bind()

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = Session(bind=self.bind, expire_on_commit=False)
        try:
            with session.begin():
                yield session
        except IntegrityError as exc:  # two writers of one name: a 409, as Database.session does
            if (conflict := conflict_of(exc)) is None:
                raise
            raise conflict from exc
        finally:
            session.close()


def _db(ctx: Context) -> Database:
    return cast("Database", _Side(ctx))


def _outcome(result: routes.PushResult) -> E.PushOutcome:
    return E.PushOutcome(version=result.version, failed=dict(result.failed))


def _info(row: EdgeRoute) -> E.RouteInfo:
    r = routes.Route.from_json(row.spec)
    return E.RouteInfo(
        name=r.name,
        hosts=list(r.hosts),
        backends=[E.BackendSpec(address=b.address, weight=b.weight, group=b.group) for b in r.backends],
        lb_policy=r.lb_policy,
        health_path=r.health_path,
        health_interval_s=r.health_interval_s,
        cached=r.cached,
        version=row.version,
    )


def _check_owned(ctx: Context, hosts: list[str]) -> None:
    try:
        owned_domain = importlib.import_module("codeforge.platform.domains.access").owned_domain
    except (ImportError, AttributeError):
        return  # no domains capability here: hostnames are not checked
    project = ctx.require_project()
    problems = []
    for host in hosts:
        name = host.strip().lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            continue
        if owned_domain(ctx.session, project.id, name) is None:
            problems.append(
                FieldProblem(
                    "hosts",
                    f"{name} is not under a verified domain of project {project.slug!r}",
                    "add and verify its domain (`domains add`, `domains verify`), or use a *.localhost name",
                )
            )
    if problems:
        raise BadInput("a hostname is not the project's", errors=problems)


@implements(E.NODES)
def list_nodes(ctx: Context, data: E.NodesInput) -> E.NodeList:
    db = _db(ctx)
    found = routes.nodes(db, ctx.settings)
    return E.NodeList(
        version=routes.current_version(db),
        items=[
            E.NodeInfo(
                name=n.name,
                region=n.region,
                state=n.state,
                version=n.version,
                behind=n.behind,
                error=n.error,
                http_address=n.http_address,
                https_address=n.https_address,
            )
            for n in found
        ],
    )


@implements(E.ROUTES)
def list_routes(ctx: Context, data: E.ListInput) -> E.RouteList:
    project = ctx.require_project()
    rows = ctx.session.scalars(select(EdgeRoute).where(EdgeRoute.project_id == project.id).order_by(EdgeRoute.name))
    return E.RouteList(items=[_info(r) for r in rows])


@implements(E.ROUTE_SHOW)
def route_show(ctx: Context, data: E.NameInput) -> E.RouteInfo:
    project = ctx.require_project()
    row = ctx.session.scalar(select(EdgeRoute).where(EdgeRoute.project_id == project.id, EdgeRoute.name == data.name))
    if row is None:
        raise NotFound(f"no edge route {data.name!r} in project {project.slug!r}", fix="list them with `edge routes`")
    return _info(row)


@implements(E.PUBLISH)
def publish(ctx: Context, data: E.PublishInput) -> E.PushOutcome:
    project = ctx.require_project()
    _check_owned(ctx, data.hosts)
    route = routes.Route(
        project_id=project.id,
        name=data.name,
        hosts=tuple(data.hosts),
        backends=tuple(routes.Backend(b.address, b.weight, b.group) for b in data.backends),
        lb_policy=data.lb_policy,
        health_path=data.health_path or None,
        health_interval_s=data.health_interval_s,
        cached=data.cached,
    )
    return _outcome(routes.publish(_db(ctx), ctx.settings, ctx.cipher, route))


@implements(E.WITHDRAW)
def withdraw(ctx: Context, data: E.NameInput) -> E.PushOutcome:
    project = ctx.require_project()
    return _outcome(routes.withdraw(_db(ctx), ctx.settings, project.id, data.name))


@implements(E.PUSH)
def push(ctx: Context, data: E.ListInput) -> E.PushOutcome:
    return _outcome(routes.push(_db(ctx), ctx.settings, ctx.cipher))
