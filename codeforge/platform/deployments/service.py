"""The deployments capability's operations (docs/deployments.md, "Operations"): thin, each
checking its input before anything is made, then calling releases, rollout and strategies.
Writes go through side units of work (workspaces.access.Side), committed step by step, so a
rollout's progress is visible to `show` and `cancel` while it runs."""

from __future__ import annotations

import contextlib
import time

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from codeforge import catalog
from codeforge.catalog.errors import BadInput, Conflict, FieldProblem, NotFound, PlatformUnavailable
from codeforge.platform.context import Context
from codeforge.platform.deployments import monitor, traffic
from codeforge.platform.deployments.instances import Instance, stop_instance
from codeforge.platform.deployments.models import Deployment, Release
from codeforge.platform.deployments.releases import delete_release_tree, make_release, release_info
from codeforge.platform.deployments.rollout import Rollout, roll_back
from codeforge.platform.deployments.strategies import STRATEGIES
from codeforge.platform.registry import implements
from codeforge.platform.workspaces import access as ws_access
from codeforge.platform.workspaces.access import Side

__all__ = ["deployment_info"]

D = catalog.deployments

# What `deploy` keeps as the deployment's settings (the source is the release's).
_SETTINGS = (
    "health_path", "health_timeout_s", "strategy", "instances", "batch", "canary_steps", "step_s",
    "max_error_rate", "max_p99_ms", "min_requests", "regions", "hosts", "runtime",
)  # fmt: skip


def _find(session: Session, project_id: str, name: str) -> Deployment | None:
    return session.scalar(select(Deployment).where(Deployment.project_id == project_id, Deployment.name == name))


def _get(ctx: Context, session: Session, name: str) -> Deployment:
    project = ctx.require_project()
    dep = _find(session, project.id, name)
    if dep is None:
        raise NotFound(
            f"project {project.slug!r} has no deployment {name!r}",
            fix="list them with `codeforge deployments list`, or make one with `deployments deploy`",
        )
    return dep


def _releases(session: Session, dep: Deployment) -> list[Release]:
    return list(session.scalars(select(Release).where(Release.deployment_id == dep.id).order_by(Release.number.desc())))


def deployment_info(
    ctx: Context, session: Session, dep: Deployment, *, seconds: float | None = None
) -> catalog.deployments.DeploymentInfo:
    rels = _releases(session, dep)
    by_id = {r.id: r for r in rels}
    conf = dep.settings or {}
    current = by_id.get(dep.current_id or "")
    standby = by_id.get(dep.standby_id or "")
    return D.DeploymentInfo(
        name=dep.name,
        project=ctx.require_project().slug,
        state=dep.state,
        strategy=str(conf.get("strategy", "rolling")),
        hosts=list(conf.get("hosts") or []),
        regions=list(conf.get("regions") or []),
        instances=int(conf.get("instances", 1)),
        current=current.number if current else None,
        standby=standby.number if standby else None,
        max_error_rate=float(conf.get("max_error_rate", 5.0)),
        max_p99_ms=conf.get("max_p99_ms"),
        message=dep.message,
        seconds=seconds,
        releases=[release_info(r) for r in rels],
        created_at=dep.created_at,
        created_by=dep.created_by,
    )


def _fresh_info(ctx: Context, dep_id: str, seconds: float | None = None) -> catalog.deployments.DeploymentInfo:
    with Side.of(ctx).session() as s:
        dep = s.get(Deployment, dep_id)
        assert dep is not None
        return deployment_info(ctx, s, dep, seconds=seconds)


def _check_regions(ctx: Context, regions: list[str]) -> None:
    if not regions:
        return
    known = traffic.edge_regions(ctx.settings)
    if known is None:
        return  # no edge here: the rollout says so when it publishes
    unknown = [r for r in regions if r not in known]
    if unknown:
        raise BadInput(
            f"no edge node serves region(s) {', '.join(unknown)}",
            errors=[
                FieldProblem(
                    "regions", f"unknown: {', '.join(unknown)}", f"one of: {', '.join(sorted(known)) or 'none yet'}"
                )
            ],
        )


@implements(D.DEPLOY)
def deploy(ctx: Context, data: catalog.deployments.DeployInput) -> catalog.deployments.DeploymentInfo:
    began = time.monotonic()
    project = ctx.require_project()
    _check_regions(ctx, data.regions)
    conf = data.model_dump(mode="json", include=set(_SETTINGS))
    conf["hosts"] = conf["hosts"] or [f"{data.name}.{project.slug}.localhost"]
    if data.batch > data.instances:
        raise BadInput(
            "batch is larger than the instances per region",
            errors=[FieldProblem("batch", f"{data.batch} > {data.instances}", "use a batch up to `instances`")],
        )
    if data.workspace:
        ws_access.get_workspace(ctx, data.workspace)  # NotFound before anything is made
    side = Side.of(ctx)
    with side.session() as s:
        dep = _find(s, project.id, data.name)
        if dep is None:
            dep = Deployment(project_id=project.id, name=data.name, settings=conf, created_by=ctx.actor.username)
            s.add(dep)
            s.flush()
        else:
            # Taken in one conditional write, so two deploys at once cannot both start.
            taken = s.execute(
                update(Deployment)
                .where(Deployment.id == dep.id, Deployment.state != "deploying")
                .values(state="deploying")
                .execution_options(synchronize_session=False)
            )
            if getattr(taken, "rowcount", 1) == 0:
                raise Conflict(
                    f"deployment {data.name!r} is being rolled out already",
                    fix="wait for it, or stop it with `deployments cancel`",
                )
        dep.settings = conf
        dep.state = "deploying"
        dep.cancel_requested = False
        dep.promote_requested = False
        dep_id, old_id = dep.id, dep.current_id
    try:
        with side.session() as s:
            dep = s.get(Deployment, dep_id)
            assert dep is not None
            release = make_release(ctx, s, dep, data)
            new_id = release.id
    except BaseException:
        with side.session() as s:
            dep = s.get(Deployment, dep_id)
            assert dep is not None
            dep.state = "live" if old_id else "failed"
        raise
    if ctx.job:
        ctx.job.progress(0.05, f"release v{release.number} made from {release.source}")
    rollout = Rollout(side, ctx.settings, ctx.cipher, project.id, dep_id, ctx.job)
    rollout.run(new_id, old_id, STRATEGIES[data.strategy.value])
    return _fresh_info(ctx, dep_id, time.monotonic() - began)


@implements(D.LIST)
def list_deployments(ctx: Context, data: catalog.deployments.ListInput) -> catalog.deployments.DeploymentList:
    project = ctx.require_project()
    rows = ctx.session.scalars(select(Deployment).where(Deployment.project_id == project.id).order_by(Deployment.name))
    return D.DeploymentList(items=[deployment_info(ctx, ctx.session, d) for d in rows])


@implements(D.SHOW)
def show(ctx: Context, data: catalog.deployments.NameInput) -> catalog.deployments.DeploymentInfo:
    return deployment_info(ctx, ctx.session, _get(ctx, ctx.session, data.name))


@implements(D.RELEASES)
def releases(ctx: Context, data: catalog.deployments.NameInput) -> catalog.deployments.ReleaseList:
    dep = _get(ctx, ctx.session, data.name)
    return D.ReleaseList(items=[release_info(r) for r in _releases(ctx.session, dep)])


def _idle(dep: Deployment, verb: str) -> None:
    if dep.state == "deploying":
        raise Conflict(f"deployment {dep.name!r} is being rolled out", fix=f"wait for it or cancel it, then {verb}")


@implements(D.ROLLBACK)
def rollback(ctx: Context, data: catalog.deployments.RollbackInput) -> catalog.deployments.DeploymentInfo:
    began = time.monotonic()
    project = ctx.require_project()
    with Side.of(ctx).session() as s:
        dep = _get(ctx, s, data.name)
        _idle(dep, "roll back")
        rels = _releases(s, dep)
        current = next((r for r in rels if r.id == dep.current_id), None)
        if data.release is not None:
            target = next((r for r in rels if r.number == data.release), None)
            if target is None:
                raise BadInput(
                    f"deployment {data.name!r} has no release v{data.release}",
                    errors=[
                        FieldProblem("release", f"no v{data.release}", "one of its releases (`deployments releases`)")
                    ],
                )
            if current is not None and target.id == current.id:
                raise Conflict(f"v{target.number} is serving already", fix="name an earlier release")
        else:
            below = current.number if current else max((r.number for r in rels), default=0) + 1
            target = next((r for r in rels if r.number < below and r.state in ("standby", "retired")), None)
            if target is None:
                raise Conflict(
                    f"deployment {data.name!r} has no earlier release to roll back to",
                    fix="deploy a fixed release instead",
                )
        if not target.command and not target.image:
            raise Conflict(f"v{target.number} cannot run: it has no command", fix="name another release")
        dep_id, target_id = dep.id, target.id
    r = Rollout(Side.of(ctx), ctx.settings, ctx.cipher, project.id, dep_id)
    message, switch_s = roll_back(r, target_id)
    info = _fresh_info(ctx, dep_id, time.monotonic() - began)
    info.message = f"{message} (traffic switched in {switch_s * 1000:.0f} ms)"
    return info


@implements(D.SWITCH)
def switch(ctx: Context, data: catalog.deployments.NameInput) -> catalog.deployments.DeploymentInfo:
    """Blue-green: all traffic to the standby release in one publish; the serving one becomes
    the standby, so a second switch goes back."""
    began = time.monotonic()
    project = ctx.require_project()
    with Side.of(ctx).session() as s:
        dep = _get(ctx, s, data.name)
        _idle(dep, "switch")
        standby = s.get(Release, dep.standby_id) if dep.standby_id else None
        if standby is None or not standby.instances:
            raise Conflict(
                f"deployment {data.name!r} has no standby release running",
                fix="switch works after a blue-green deploy; use `deployments rollback` otherwise",
            )
        dep_id, target_id = dep.id, standby.id
    r = Rollout(Side.of(ctx), ctx.settings, ctx.cipher, project.id, dep_id)
    roll_back(r, target_id)  # the standby's instances run: one publish; the serving one becomes the standby
    r.set_deployment(message=f"switched to v{r.release(target_id).number}")
    return _fresh_info(ctx, dep_id, time.monotonic() - began)


def _flag(ctx: Context, name: str, **values: bool) -> catalog.deployments.DeploymentInfo:
    with Side.of(ctx).session() as s:
        dep = _get(ctx, s, name)
        if dep.state != "deploying":
            raise Conflict(f"deployment {name!r} has no rollout under way (it is {dep.state})", fix="deploy first")
        for k, v in values.items():
            setattr(dep, k, v)
        dep_id = dep.id
    return _fresh_info(ctx, dep_id)


@implements(D.PROMOTE)
def promote(ctx: Context, data: catalog.deployments.NameInput) -> catalog.deployments.DeploymentInfo:
    return _flag(ctx, data.name, promote_requested=True)


@implements(D.CANCEL)
def cancel(ctx: Context, data: catalog.deployments.NameInput) -> catalog.deployments.DeploymentInfo:
    return _flag(ctx, data.name, cancel_requested=True)


@implements(D.ANALYTICS)
def analytics(ctx: Context, data: catalog.deployments.AnalyticsInput) -> catalog.deployments.AnalyticsList:
    project = ctx.require_project()
    dep = _get(ctx, ctx.session, data.name)
    numbers = {r.id: r.number for r in _releases(ctx.session, dep)}
    health = monitor.read_health(
        ctx.settings, project.id, traffic.route_name(dep.name), list(numbers) or None, by_region=True
    )
    items = [
        D.Analytics(
            release=numbers[h.group],
            region=h.region,
            requests=h.requests,
            errors=h.errors,
            error_rate=round(h.error_rate, 3),
            p50_ms=h.p50_ms,
            p99_ms=h.p99_ms,
        )
        for h in health
        if h.group in numbers
    ]
    items.sort(key=lambda a: (-a.release, a.region))
    return D.AnalyticsList(name=dep.name, items=items)


@implements(D.DELETE)
def delete(ctx: Context, data: catalog.deployments.NameInput) -> catalog.deployments.Deleted:
    project = ctx.require_project()
    with Side.of(ctx).session() as s:
        dep = _get(ctx, s, data.name)
        _idle(dep, "delete it")
        rels = _releases(s, dep)
        published = any(r.instances for r in rels)
    if published:
        with contextlib.suppress(PlatformUnavailable):  # no edge here: nothing was routed
            traffic.withdraw_route(ctx.settings, project.id, data.name)
    for rel in rels:
        for inst in rel.instances or []:
            stop_instance(ctx.settings, Instance.from_json(inst))
        delete_release_tree(ctx.settings, rel)
    with Side.of(ctx).session() as s:
        found = _find(s, project.id, data.name)
        if found is not None:
            for rel in _releases(s, found):
                s.delete(rel)
            s.flush()
            s.delete(found)
    return D.Deleted(name=data.name, releases=len(rels))
