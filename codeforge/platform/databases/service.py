"""The databases capability's operations: engines, provisioning, branches, pooling.
Backups and migrations are in their own modules, imported at the end."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from codeforge import catalog
from codeforge.catalog.errors import BadInput, Conflict, ExternalFailure, FieldProblem, NotFound
from codeforge.platform.context import Context
from codeforge.platform.databases import runtime as rt
from codeforge.platform.databases.engines import branching, cow
from codeforge.platform.databases.engines.cluster import LocalCluster, free_port
from codeforge.platform.databases.engines.common import BranchMethod, new_password
from codeforge.platform.databases.engines.mysql import MySQLEngine
from codeforge.platform.databases.engines.postgres import PostgresEngine
from codeforge.platform.databases.models import BackupScheduleRow, DatabaseRow, EngineRow
from codeforge.platform.databases.paths import confine, data_dir_roots
from codeforge.platform.databases.pool_service import configure_pool, sync_pooled_variable
from codeforge.platform.databases.volume import copy_on_write_advice
from codeforge.platform.env.service import has_variable, put_variable, remove_variable
from codeforge.platform.registry import implements

__all__ = ["check_free", "database_info", "finish_new_database", "point_variable"]


def _progress(ctx: Context, fraction: float, message: str) -> None:
    if ctx.job:
        ctx.job.progress(fraction, message)


# -- engines ----------------------------------------------------------------------------------------


def _engine_info(ctx: Context, row: EngineRow) -> catalog.engines.EngineInfo:
    running, cow_method, advice = True, None, None
    if row.kind == "postgresql-local":
        status = LocalCluster(Path(row.root), port=row.port, password="").status()
        running, cow_method = status.running, status.copy_on_write
        if cow_method is None:
            # An initialized cluster's status() has just tried a reflink in its folder: not again.
            reflink = False if status.initialized else None
            advice = copy_on_write_advice(ctx.settings.data_dir, Path(row.root), reflink=reflink)
    count = ctx.session.scalar(select(func.count()).select_from(DatabaseRow).where(DatabaseRow.engine_id == row.id))
    return catalog.engines.EngineInfo(
        name=row.name,
        kind=catalog.engines.EngineKind(row.kind),
        host=row.host,
        port=row.port,
        version=row.version,
        default=row.is_default,
        running=running,
        copy_on_write=cow_method,
        advice=advice,
        databases=int(count or 0),
        created_at=row.created_at,
    )


def _engine_row(ctx: Context, name: str) -> EngineRow:
    row = ctx.session.scalar(select(EngineRow).where(EngineRow.org_id == ctx.actor.org_id, EngineRow.name == name))
    if row is None:
        raise NotFound(f"there is no database engine {name!r}", fix="list them with `codeforge engines list`")
    return row


_SYSTEM_DIRS = ("/proc", "/sys", "/dev", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/run")


def _checked_data_dir(ctx: Context, value: str) -> Path:
    """A cluster's home is made there and handed to the server's OS user: only inside the
    folders the operator allows (the data dir, the storage roots), never a system path."""
    resolved = confine(value, data_dir_roots(ctx.settings), field="data_dir")
    if resolved == Path("/") or any(resolved.is_relative_to(d) for d in _SYSTEM_DIRS):
        raise BadInput(
            f"{value!r} cannot hold a database cluster",
            errors=[
                FieldProblem(
                    "data_dir",
                    "must be an absolute path outside the system's directories",
                    "use a directory such as /var/lib/codeforge or a btrfs mount",
                )
            ],
        )
    return resolved


def register_engine(
    ctx: Context, data: catalog.engines.EngineRegisterInput, session: Session | None = None
) -> EngineRow:
    session = session or ctx.session
    org = ctx.actor.org_id
    if session.scalar(select(EngineRow).where(EngineRow.org_id == org, EngineRow.name == data.name)):
        raise Conflict(f"an engine named {data.name!r} exists already", fix="choose another name")
    row = EngineRow(org_id=org, name=data.name, kind=data.kind.value)
    if data.kind is catalog.engines.EngineKind.LOCAL:
        if data.admin_url:
            raise BadInput(
                "a local cluster takes no admin URL",
                errors=[
                    FieldProblem("admin_url", "not used for postgresql-local", "leave it empty, or use kind postgresql")
                ],
            )
        root = (
            _checked_data_dir(ctx, data.data_dir) if data.data_dir else rt.databases_root(ctx.settings) / "engines"
        ) / f"{org[:8]}-{data.name}"
        if root.exists() and any(root.iterdir()):
            raise Conflict(f"{root} is not empty", fix="choose another data_dir or engine name")
        password = new_password()
        cluster = LocalCluster(root, port=free_port(), password=password)
        _progress(ctx, 0.1, f"initializing a PostgreSQL cluster in {root}")
        try:
            cluster.init()
            _progress(ctx, 0.7, "starting it")
            cluster.start()
            row.version = f"PostgreSQL {cluster.engine().server_major()}"
        except BaseException:
            cluster.destroy()
            raise
        row.host, row.port, row.root = "127.0.0.1", cluster.port, str(root)
        row.admin_secret_encrypted = ctx.cipher.encrypt(password)
    else:
        if not data.admin_url:
            raise BadInput(
                "an external engine needs its admin URL",
                errors=[
                    FieldProblem(
                        "admin_url", "missing", "give postgresql://USER:PASSWORD@HOST:PORT/postgres or mysql://…"
                    )
                ],
            )
        engine: PostgresEngine | MySQLEngine
        if data.kind is catalog.engines.EngineKind.MYSQL:
            engine = MySQLEngine(data.admin_url)
            row.version = engine.server_version()  # also proves the URL works
        else:
            if not data.admin_url.startswith(("postgresql://", "postgres://")):
                raise BadInput(
                    "not a PostgreSQL URL",
                    errors=[
                        FieldProblem(
                            "admin_url", "must start with postgresql://", "use postgresql://USER:PASSWORD@HOST:PORT/db"
                        )
                    ],
                )
            engine = PostgresEngine(data.admin_url)
            row.version = f"PostgreSQL {engine.server_major()}"
        row.host, row.port = engine.host, engine.port
        row.admin_secret_encrypted = ctx.cipher.encrypt(data.admin_url)
    has_default = session.scalar(select(EngineRow).where(EngineRow.org_id == org, EngineRow.is_default))
    if data.default and has_default is not None:
        has_default.is_default = False
    row.is_default = data.default or has_default is None
    session.add(row)
    session.flush()
    return row


@implements(catalog.engines.REGISTER)
def engines_register(ctx: Context, data: catalog.engines.EngineRegisterInput) -> catalog.engines.EngineInfo:
    return _engine_info(ctx, register_engine(ctx, data))


@implements(catalog.engines.LIST)
def engines_list(ctx: Context, data: catalog.engines.EngineListInput) -> catalog.engines.EngineList:
    rows = ctx.session.scalars(select(EngineRow).where(EngineRow.org_id == ctx.actor.org_id).order_by(EngineRow.name))
    return catalog.engines.EngineList(items=[_engine_info(ctx, r) for r in rows])


@implements(catalog.engines.REMOVE)
def engines_remove(ctx: Context, data: catalog.engines.EngineNameInput) -> catalog.engines.EngineRemoved:
    row = _engine_row(ctx, data.name)
    used = ctx.session.scalar(select(func.count()).select_from(DatabaseRow).where(DatabaseRow.engine_id == row.id))
    if used:
        raise Conflict(f"engine {data.name!r} still holds {used} database(s)", fix="delete them first")
    if row.kind == "postgresql-local":
        branching.remove_instance(Path(row.root))  # locked: the supervisor must not start it meanwhile
    ctx.session.delete(row)
    return catalog.engines.EngineRemoved(name=data.name, removed=True)


def _default_engine(ctx: Context) -> EngineRow:
    org = ctx.actor.org_id
    row = ctx.session.scalar(select(EngineRow).where(EngineRow.org_id == org, EngineRow.is_default))
    if row is None:
        row = ctx.session.scalar(select(EngineRow).where(EngineRow.org_id == org).order_by(EngineRow.created_at))
    if row is None:  # the embedded default: a cluster of CodeForge's own, made on first use
        # Committed at once (the cluster exists on disk from now on), and before the
        # operation's own unit of work writes anything.
        with rt.side_session(ctx) as s:
            made = register_engine(ctx, catalog.engines.EngineRegisterInput(name="local", default=True), session=s)
        row = ctx.session.get(EngineRow, made.id)
        assert row is not None
    return row


# -- databases ------------------------------------------------------------------------------------


def database_info(ctx: Context, row: DatabaseRow, *, size: bool = True) -> catalog.databases.DatabaseInfo:
    engine_row = ctx.session.get(EngineRow, row.engine_id)
    assert engine_row is not None
    parent = ctx.session.get(DatabaseRow, row.parent_id) if row.parent_id else None
    kind = "mysql" if engine_row.kind == "mysql" else "postgresql"
    size_bytes = None
    if size and row.state == "ready":
        try:
            # A read starts nothing: a stopped server is the supervisor's to restart.
            handle = rt.open_engine(ctx, engine_row, start=False)
            size_bytes = rt.instance_engine(handle, row, start=False).size(row.physical)
        except Exception:  # a down server must not break the listing; the size is just unknown
            size_bytes = None
    url = f"{kind}://{row.role}:***@{row.host}:{row.port}/{row.physical}"
    return catalog.databases.DatabaseInfo(
        name=row.name,
        project=ctx.require_project().slug,
        engine=engine_row.name,
        kind=kind,
        parent=parent.name if parent else None,
        method=row.method,
        state=row.state,
        host=row.host,
        port=row.port,
        database=row.physical,
        user=row.role,
        url=url,
        env_var=row.env_var,
        pooled=row.pooled,
        size_bytes=size_bytes,
        seconds=row.seconds,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def check_free(ctx: Context, name: str) -> None:
    project = ctx.require_project()
    clash = ctx.session.scalar(
        select(DatabaseRow).where(DatabaseRow.project_id == project.id, DatabaseRow.name == name)
    )
    if clash is not None:
        what = "is being created" if clash.state == "creating" else "exists already"
        raise Conflict(
            f"project {project.slug!r} has a database {name!r} that {what}",
            fix="choose another name, or delete it first",
        )


def _holder(ctx: Context, var: str) -> DatabaseRow | None:
    return ctx.session.scalar(
        select(DatabaseRow).where(DatabaseRow.project_id == ctx.require_project().id, DatabaseRow.env_var == var)
    )


def check_variable(ctx: Context, var: str, name: str, *, take_over: bool) -> None:
    """Refuse to overwrite a project variable that holds something else: one a person set
    always, another database's URL unless `take_over` (a branch standing in for its
    database, as the git-branch action does). Checked before anything is made."""
    holder = _holder(ctx, var)
    suggestion = f"{name.upper().replace('-', '_')}_DATABASE_URL"
    if holder is not None and not take_over:
        raise Conflict(
            f"project variable {var} already holds the URL of database {holder.name!r}",
            errors=[
                FieldProblem(
                    "env_var",
                    f"{var} is taken by database {holder.name!r}",
                    f"give {name!r} a variable of its own, e.g. {suggestion}",
                )
            ],
            fix=f"pass env_var={suggestion} (CLI: --env-var {suggestion})",
        )
    if holder is None and has_variable(ctx, ctx.require_project(), var):
        raise Conflict(
            f"project variable {var} is already set, and not by a database",
            errors=[FieldProblem("env_var", f"{var} exists", f"choose another name, e.g. {suggestion}")],
            fix=f"pass another env_var (e.g. {suggestion}), or `codeforge env unset {var}` first if it can go",
        )


def point_variable(ctx: Context, row: DatabaseRow, var: str) -> None:
    """Make project variable `var` (and `<var>_POOLED`) hold `row`'s URL; the database that
    held it lets go. A database has one variable: the one it held before is removed."""
    project = ctx.require_project()
    holder = _holder(ctx, var)
    if holder is not None and holder.id != row.id:
        holder.env_var = None
    if row.env_var and row.env_var != var:
        remove_variable(ctx, project, row.env_var)
        sync_pooled_variable(ctx, None, row.env_var)
    conn = rt.connection(ctx, rt.database_engine(ctx, row, start=False), row)
    put_variable(ctx, project, var, conn.url, secret=True)
    row.env_var = var
    sync_pooled_variable(ctx, row, var)


def finish_new_database(ctx: Context, pending_id: str, **fields: object) -> DatabaseRow:
    """Turn the durable `creating` row into a ready database inside the operation's unit of work."""
    row = ctx.session.get(DatabaseRow, pending_id)
    assert row is not None
    for key, value in fields.items():
        setattr(row, key, value)
    row.state = "ready"
    ctx.session.flush()
    return row


def _drop_pending(ctx: Context, pending_id: str) -> None:
    with rt.side_session(ctx) as s:
        row = s.get(DatabaseRow, pending_id)
        if row is not None:
            s.delete(row)


@implements(catalog.databases.CREATE)
def create_database(ctx: Context, data: catalog.databases.DatabaseCreateInput) -> catalog.databases.DatabaseInfo:
    project = ctx.require_project()
    rt.sweep(ctx, servers=False)
    check_free(ctx, data.name)
    check_variable(ctx, data.env_var, data.name, take_over=False)
    engine_row = _engine_row(ctx, data.engine) if data.engine else _default_engine(ctx)
    handle = rt.open_engine(ctx, engine_row)
    physical, role = rt.physical_names(project.slug, data.name, handle.kind)
    password = new_password()
    with rt.side_session(ctx) as s:
        pending = DatabaseRow(
            project_id=project.id,
            engine_id=engine_row.id,
            name=data.name,
            physical=physical,
            role=role,
            password_encrypted=ctx.cipher.encrypt(password),
            host=handle.admin.host,
            port=handle.admin.port,
            created_by=ctx.actor.username,
        )
        s.add(pending)
    try:
        handle.admin.create_database(physical, role, password)
    except BaseException:
        _drop_pending(ctx, pending.id)
        raise
    row = finish_new_database(ctx, pending.id)
    point_variable(ctx, row, data.env_var)
    return database_info(ctx, row)


@implements(catalog.databases.LIST)
def list_databases(ctx: Context, data: catalog.databases.DatabaseListInput) -> catalog.databases.DatabaseList:
    # A read changes nothing: leftovers of killed operations are the supervisor's (supervisor.py).
    rows = ctx.session.scalars(
        select(DatabaseRow).where(DatabaseRow.project_id == ctx.require_project().id).order_by(DatabaseRow.created_at)
    )
    return catalog.databases.DatabaseList(items=[database_info(ctx, r) for r in rows])


def _children(ctx: Context, row: DatabaseRow) -> list[DatabaseRow]:
    return list(ctx.session.scalars(select(DatabaseRow).where(DatabaseRow.parent_id == row.id)))


@dataclass(frozen=True)
class _Removed:
    id: str
    name: str
    parent_id: str | None
    env_var: str | None


def _remove(ctx: Context, row: DatabaseRow, removed: list[_Removed]) -> None:
    for child in _children(ctx, row):
        _remove(ctx, child, removed)
    handle = rt.database_engine(ctx, row)
    if row.instance_dir:
        branching.remove_instance(Path(row.instance_dir))
    else:
        shared_role = ctx.session.scalar(
            select(func.count())
            .select_from(DatabaseRow)
            .where(
                DatabaseRow.engine_id == row.engine_id,
                DatabaseRow.role == row.role,
                DatabaseRow.id != row.id,
                DatabaseRow.instance_dir == "",
            )
        )
        handle.admin.drop_database(row.physical, None if shared_role else row.role, missing_ok=True)
    if row.pooled:
        row.pooled = False
        configure_pool(ctx)
    for sched in ctx.session.scalars(select(BackupScheduleRow).where(BackupScheduleRow.database_id == row.id)):
        ctx.session.delete(sched)
    removed.append(_Removed(row.id, row.name, row.parent_id, row.env_var))
    ctx.session.delete(row)
    ctx.session.flush()


def _release_variables(ctx: Context, removed: list[_Removed]) -> None:
    """Every variable a deleted database or branch held goes with it, or back to its nearest
    surviving ancestor when that one holds no variable (a branch that held the app's URL
    hands it back): never a variable pointing at a database that is gone."""
    project = ctx.require_project()
    gone = {r.id: r for r in removed}
    for r in removed:
        if not r.env_var:
            continue
        parent_id = r.parent_id
        while parent_id in gone:
            parent_id = gone[parent_id].parent_id
        parent = ctx.session.get(DatabaseRow, parent_id) if parent_id else None
        if parent is not None and parent.env_var is None:
            point_variable(ctx, parent, r.env_var)
        else:
            remove_variable(ctx, project, r.env_var)
            sync_pooled_variable(ctx, None, r.env_var)


@implements(catalog.databases.DELETE)
def delete_database(ctx: Context, data: catalog.databases.DatabaseDeleteInput) -> catalog.databases.DatabaseDeleted:
    row = rt.get_database(ctx, data.name)
    children = _children(ctx, row)
    if children and not data.cascade:
        raise Conflict(
            f"{data.name!r} has branches: {', '.join(c.name for c in children)}",
            fix="delete them first, or delete with cascade=true",
        )
    var = row.env_var
    removed: list[_Removed] = []
    _remove(ctx, row, removed)
    _release_variables(ctx, removed)
    released = next((r.env_var for r in removed if r.env_var), None)
    return catalog.databases.DatabaseDeleted(deleted=[r.name for r in removed], env_var=var or released)


def _choose_method(handle: rt.Handle, src: DatabaseRow, wanted: catalog.databases.BranchMethodChoice) -> BranchMethod:
    Choice = catalog.databases.BranchMethodChoice
    if handle.kind == "mysql":
        if wanted in (Choice.AUTO, Choice.DUMP):
            return BranchMethod.DUMP
        raise BadInput(
            f"MySQL branches are made by dump and load, not {wanted.value}",
            errors=[FieldProblem("method", "not available on MySQL", "use auto or dump")],
        )
    cluster = rt.instance_cluster(handle, src)
    cow_method = cow.clone_method(cluster.data) if cluster is not None else None
    if src.instance_dir and wanted not in (Choice.AUTO, Choice.COPY_ON_WRITE):
        raise BadInput(
            "a copy-on-write branch is branched copy-on-write",
            errors=[FieldProblem("method", f"{wanted.value} is not available here", "use auto")],
        )
    if wanted is Choice.COPY_ON_WRITE or (wanted is Choice.AUTO and cow_method):
        if cow_method is None:
            where = "an external server" if cluster is None else f"{cluster.data} (no btrfs snapshots or reflinks)"
            raise BadInput(
                f"copy-on-write branches are not possible on {where}",
                errors=[
                    FieldProblem(
                        "method",
                        "copy-on-write unavailable",
                        "use auto or template, or register a local engine whose "
                        "data_dir is on btrfs or XFS with reflink=1",
                    )
                ],
            )
        return cow_method
    return BranchMethod.DUMP if wanted is Choice.DUMP else BranchMethod.TEMPLATE


@implements(catalog.databases.BRANCH)
def branch_database(ctx: Context, data: catalog.databases.BranchInput) -> catalog.databases.DatabaseInfo:
    project = ctx.require_project()
    rt.sweep(ctx, servers=False)
    src = rt.get_database(ctx, data.source)
    check_free(ctx, data.name)
    if data.env_var:
        check_variable(ctx, data.env_var, data.name, take_over=True)
    handle = rt.database_engine(ctx, src)
    method = _choose_method(handle, src, data.method)
    pending = DatabaseRow(
        project_id=project.id,
        engine_id=src.engine_id,
        name=data.name,
        parent_id=src.id,
        role=src.role,
        password_encrypted=src.password_encrypted,
        method=method.value,
        created_by=ctx.actor.username,
    )
    if method.copy_on_write:
        pending.id = secrets.token_hex(16)
        pending.instance_dir = str(handle.branches_dir / pending.id)
        pending.physical, pending.host, pending.port = src.physical, "127.0.0.1", free_port()
    else:
        pending.physical = rt.physical_names(project.slug, data.name, handle.kind)[0]
        pending.host, pending.port = src.host, src.port
    with rt.side_session(ctx) as s:
        s.add(pending)
    if ctx.job:
        ctx.job.check_cancelled()
    _progress(ctx, 0.05, f"branching {data.source} by {method.value}")
    started = time.perf_counter()
    try:
        if method.copy_on_write:
            parent = rt.instance_cluster(handle, src)
            assert parent is not None
            branching.branch_instance(
                parent,
                Path(pending.instance_dir),
                database=src.physical,
                role=src.role,
                port=pending.port,
                method=method,
                progress=lambda f, m: _progress(ctx, f, m),
            )
        elif method is BranchMethod.TEMPLATE:
            assert isinstance(handle.admin, PostgresEngine)
            handle.admin.copy_database(src.physical, pending.physical, src.role, force=data.force)
        else:
            handle.admin.copy_by_dump(src.physical, pending.physical, src.role)
    except BaseException:
        _drop_pending(ctx, pending.id)
        raise
    seconds = round(time.perf_counter() - started, 3)
    # Progress events are written beside this unit of work: report before it writes (SQLite
    # lets one writer at a time, and this one holds on until the operation ends).
    _progress(ctx, 0.99, f"branch {data.name} ready ({method.value}, {seconds:.2f} s)")
    row = finish_new_database(ctx, pending.id, seconds=seconds)
    if data.env_var:
        point_variable(ctx, row, data.env_var)
    info = database_info(ctx, row, size=False)  # its parent's size; `list` measures it
    if method is BranchMethod.TEMPLATE and handle.cluster is not None:
        info.advice = copy_on_write_advice(ctx.settings.data_dir, handle.cluster.root)
    return info


@implements(catalog.databases.USE)
def use_database(ctx: Context, data: catalog.databases.UseInput) -> catalog.databases.DatabaseInfo:
    row = rt.get_database(ctx, data.name)
    check_variable(ctx, data.env_var, row.name, take_over=True)
    point_variable(ctx, row, data.env_var)
    return database_info(ctx, row, size=False)


@implements(catalog.databases.RESET)
def reset_branch(ctx: Context, data: catalog.databases.ResetInput) -> catalog.databases.DatabaseInfo:
    row = rt.get_database(ctx, data.name)
    parent = ctx.session.get(DatabaseRow, row.parent_id) if row.parent_id else None
    if parent is None or row.method not in {m.value for m in BranchMethod}:
        raise BadInput(f"{data.name!r} is not a branch", fix="only branches can be reset to their parent")
    handle = rt.database_engine(ctx, row)
    started = time.perf_counter()
    _progress(ctx, 0.05, f"resetting {data.name} to {parent.name}")
    if row.instance_dir:
        source = rt.instance_cluster(handle, parent)
        branch = rt.instance_cluster(handle, row, start=False)
        assert source is not None and branch is not None
        branching.reset_instance(source, branch, database=parent.physical, role=parent.role)
    elif isinstance(handle.admin, PostgresEngine):
        # Copy first (under a temporary name the sweep recognises), swap after: a failed
        # copy leaves the branch as it was.
        handle.admin.copy_database(parent.physical, row.physical, row.role, force=data.force, replace=True)
    else:
        # MySQL cannot rename a database, so there is no swap: drop, then load again.
        handle.admin.drop_database(row.physical, missing_ok=True)
        try:
            handle.admin.copy_by_dump(parent.physical, row.physical, row.role)
        except ExternalFailure as exc:
            raise ExternalFailure(
                f"resetting {data.name!r} failed after its old contents were dropped: {exc.detail}",
                fix="fix the cause and reset it again, or delete it",
            ) from None
    row.seconds = round(time.perf_counter() - started, 3)
    return database_info(ctx, row, size=False)


@implements(catalog.databases.TREE)
def database_tree(ctx: Context, data: catalog.databases.DatabaseListInput) -> catalog.databases.DatabaseTree:
    infos = {i.name: i for i in list_databases(ctx, catalog.databases.DatabaseListInput(project=data.project)).items}

    def node(name: str) -> catalog.databases.TreeNode:
        i = infos[name]
        kids = sorted(n for n, c in infos.items() if c.parent == name)
        return catalog.databases.TreeNode(
            name=name, method=i.method, port=i.port, size_bytes=i.size_bytes, children=[node(k) for k in kids]
        )

    roots = [node(n) for n, i in infos.items() if i.parent is None or i.parent not in infos]
    lines: list[str] = []

    def draw(n: catalog.databases.TreeNode, prefix: str, last: bool, top: bool) -> None:
        size = f"{n.size_bytes / 1e6:.1f} MB" if n.size_bytes is not None else "size unknown"
        how = f", {n.method}" if n.method else ""
        lines.append(f"{'' if top else prefix + ('└─ ' if last else '├─ ')}{n.name} ({size}{how}, port {n.port})")
        for k, child in enumerate(n.children):
            draw(child, prefix if top else prefix + ("   " if last else "│  "), k == len(n.children) - 1, False)

    for r in roots:
        draw(r, "", True, True)
    return catalog.databases.DatabaseTree(roots=roots, text="\n".join(lines) or "(no databases)")
