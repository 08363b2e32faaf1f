"""The warm pool (docs/workspaces.md, "Warm pool"): ready workspaces per project and template,
made in the background, so `workspaces.create` from a template is an assignment — one row
renamed — instead of a build. Its figures show in the platform's /metrics:
`codeforge_workspaces_pool_ready{project,template}` and
`codeforge_workspaces_pool_claims_total{project,template}`."""

from __future__ import annotations

import logging
import secrets
import threading
from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from codeforge.catalog import Role
from codeforge.platform.auth.models import Project
from codeforge.platform.context import Actor, Context
from codeforge.platform.databases.runtime import SYSTEM_ACTOR
from codeforge.platform.manifest import Runtime
from codeforge.platform.monitoring.periodic import Periodic
from codeforge.platform.workspaces import access, lifecycle
from codeforge.platform.workspaces.models import Workspace, WorkspacePool
from codeforge.platform.workspaces.settings import workspace_settings
from codeforge.platform.workspaces.templates import template

__all__ = ["WarmPool", "claim", "ready_count"]

log = logging.getLogger("codeforge.workspaces")

_CLAIMS: Counter[tuple[str, str]] = Counter()  # (project id, template) -> claims by this process
_CLAIMS_LOCK = threading.Lock()


def claim(ctx: Context, template_name: str, runtime: str, name: str) -> Workspace | None:
    """Hand a ready pooled workspace to the caller as `name`, or None when none is ready.
    One conditional UPDATE per try: two callers never get one workspace, on any replica."""
    project = ctx.require_project()
    side = access.Side.of(ctx)
    for _ in range(5):
        with side.session() as s:
            ws_id = s.scalar(
                select(Workspace.id)
                .where(
                    Workspace.project_id == project.id,
                    Workspace.template == template_name,
                    Workspace.runtime == runtime,
                    Workspace.state == "pooled",
                )
                .limit(1)
            )
            if ws_id is None:
                return None
            taken = s.execute(
                update(Workspace)
                .where(Workspace.id == ws_id, Workspace.state == "pooled")
                .values(name=name, state="running", created_by=ctx.actor.username, updated_at=func.now())
            )
            if getattr(taken, "rowcount", 0) != 1:
                continue  # another caller took it meanwhile: the next one
        with _CLAIMS_LOCK:
            _CLAIMS[(project.id, template_name)] += 1
        with side.session() as s:
            return s.get(Workspace, ws_id)
    return None


class WarmPool:
    """Refills every project's pools, one workspace per pass (another pass follows at once
    while one is short), and removes pooled workspaces beyond a pool's size."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._periodic = Periodic(
            "workspaces-pool", "warm-pool refill", lambda: workspace_settings().pool_interval, self.tick
        )
        if rt.metrics is not None:
            rt.metrics.register(_PoolCollector(rt))

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()

    def tick(self) -> float | None:
        with self.rt.db.session() as session:
            pools = [(p.project_id, p.template, p.runtime, p.size) for p in session.scalars(select(WorkspacePool))]
        for project_id, name, runtime, size in pools:
            if self._periodic.stopping:
                return None
            ready = _ready(self.rt, project_id, name, runtime)
            if ready < size:
                self._make_one(project_id, name, runtime)
                return 0.0
            if ready > size:
                self._remove_one(project_id, name, runtime)
                return 0.0
        return None

    def _context(self, session: Session, project: Project) -> Context:
        actor = Actor("", SYSTEM_ACTOR, project.org_id, "", Role.ADMIN, source="warm pool")
        return Context(session=session, actor=actor, settings=self.rt.settings, cipher=self.rt.cipher, project=project)

    def _make_one(self, project_id: str, name: str, runtime: str) -> None:
        with self.rt.db.session() as session:
            project = session.get(Project, project_id)
            if project is None:
                return
            ctx = self._context(session, project)
            chosen = template(name)
            lifecycle.build(
                ctx,
                lifecycle.NewWorkspace(
                    name=f"pool-{secrets.token_hex(6)}",
                    runtime=runtime,
                    spec=chosen.spec,
                    own_env={},
                    fill_tree=chosen.lay_down,
                    template=name,
                    state="pooled",
                ),
                created_by=SYSTEM_ACTOR,
            )

    def _remove_one(self, project_id: str, name: str, runtime: str) -> None:
        with self.rt.db.session() as session:
            project = session.get(Project, project_id)
            row = session.scalar(
                select(Workspace).where(
                    Workspace.project_id == project_id,
                    Workspace.template == name,
                    Workspace.runtime == runtime,
                    Workspace.state == "pooled",
                )
            )
            if project is None or row is None:
                return
            lifecycle.delete_everything(self._context(session, project), row, keep_databases=False)


def _count(session: Session, project_id: str, name: str, runtime: str | None = None) -> int:
    query = select(func.count()).select_from(Workspace)
    query = query.where(Workspace.project_id == project_id, Workspace.template == name, Workspace.state == "pooled")
    if runtime is not None:
        query = query.where(Workspace.runtime == runtime)
    return int(session.scalar(query) or 0)


def _ready(rt: Runtime, project_id: str, name: str, runtime: str) -> int:
    with rt.db.session() as session:
        return _count(session, project_id, name, runtime)


def ready_count(ctx: Context, name: str) -> int:
    return _count(ctx.session, ctx.require_project().id, name)


class _PoolCollector:
    """Reads the pools at each scrape: the figures are the database's, so every replica
    shows the same ready count."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        ready = GaugeMetricFamily(
            "codeforge_workspaces_pool_ready", "Ready workspaces in the warm pool", labels=["project", "template"]
        )
        claims = CounterMetricFamily(
            "codeforge_workspaces_pool_claims", "Workspaces handed out by the warm pool", labels=["project", "template"]
        )
        try:
            with self.rt.db.session() as session:
                slugs = {str(i): str(s) for i, s in session.execute(select(Project.id, Project.slug))}
                pools = [
                    (str(p), str(t))
                    for p, t in session.execute(select(WorkspacePool.project_id, WorkspacePool.template))
                ]
                counted = session.execute(
                    select(Workspace.project_id, Workspace.template, func.count())
                    .where(Workspace.state == "pooled")
                    .group_by(Workspace.project_id, Workspace.template)
                )
                counts = {(str(p), str(t)): int(n) for p, t, n in counted}
        except Exception:  # a scrape must answer even while the database is away
            log.exception("could not read the warm pools for /metrics")
            return
        for project_id, name in pools:
            slug = slugs.get(project_id, project_id)
            ready.add_metric([slug, name], counts.get((project_id, name), 0))
            with _CLAIMS_LOCK:
                claims.add_metric([slug, name], _CLAIMS[(project_id, name)])
        yield ready
        yield claims
