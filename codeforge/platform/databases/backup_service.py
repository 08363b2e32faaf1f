"""Backups of a project's databases: on demand, restore (into a new database, or in place
after confirmation), verify, retention, and cron schedules run by `run_due_backups`."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from codeforge import catalog
from codeforge.catalog.errors import BadInput, FieldProblem, NotFound
from codeforge.platform.context import Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.databases import runtime as rt
from codeforge.platform.databases.backups import BackupFile, BackupStore, check_cron, next_run, verify
from codeforge.platform.databases.engines.common import new_password
from codeforge.platform.databases.engines.postgres import PostgresEngine
from codeforge.platform.databases.models import BackupRow, BackupScheduleRow, DatabaseRow, EngineRow
from codeforge.platform.db import Database, utcnow
from codeforge.platform.registry import implements
from codeforge.platform.settings import Settings

__all__ = ["BackupScheduler", "run_due_backups"]

log = logging.getLogger("codeforge.databases.backups")


def _store(settings: Settings) -> BackupStore:
    return BackupStore(rt.databases_root(settings) / "backups")


def _info(row: BackupRow) -> catalog.backups.BackupInfo:
    return catalog.backups.BackupInfo(
        id=row.id,
        database=row.database_name,
        engine=row.engine_kind,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        tables=row.tables,
        seconds=row.seconds,
        created_at=row.created_at,
        verified_at=row.verified_at,
        verified_ok=row.verified_ok,
    )


def _file(row: BackupRow) -> BackupFile:
    return BackupFile(
        id=row.id,
        key=row.key,
        file=row.file,
        engine=row.engine_kind,
        database=row.database_name,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        tables=row.tables,
        created_at=row.created_at.isoformat(),
        seconds=row.seconds,
    )


def _backup(session: Session, settings: Settings, handle: rt.Handle, db: DatabaseRow) -> BackupRow:
    store = _store(settings)
    key = f"{db.project_id}/{db.name}"
    store.sweep(key)  # its own database's leftovers only, and only those whose writer is gone
    engine = rt.instance_engine(handle, db)
    made = store.create(engine, db.physical, key=key)
    row = BackupRow(
        id=made.id,
        project_id=db.project_id,
        database_id=db.id,
        database_name=db.name,
        engine_kind=made.engine,
        key=made.key,
        file=made.file,
        sha256=made.sha256,
        size_bytes=made.size_bytes,
        tables=made.tables,
        seconds=made.seconds,
        created_at=made.created,
    )
    session.add(row)
    session.flush()
    return row


@implements(catalog.backups.CREATE)
def create_backup(ctx: Context, data: catalog.backups.BackupCreateInput) -> catalog.backups.BackupInfo:
    db = rt.get_database(ctx, data.name)
    if ctx.job:
        ctx.job.progress(0.05, f"dumping {data.name}")
    row = _backup(ctx.session, ctx.settings, rt.database_engine(ctx, db), db)
    return _info(row)


@implements(catalog.backups.LIST)
def list_backups(ctx: Context, data: catalog.backups.BackupListInput) -> catalog.backups.BackupList:
    q = select(BackupRow).where(BackupRow.project_id == ctx.require_project().id)
    if data.name:
        q = q.where(BackupRow.database_name == data.name)
    return catalog.backups.BackupList(
        items=[_info(r) for r in ctx.session.scalars(q.order_by(BackupRow.created_at.desc()))]
    )


def _backup_row(ctx: Context, backup_id: str) -> BackupRow:
    row = ctx.session.get(BackupRow, backup_id)
    if row is None or row.project_id != ctx.require_project().id:
        raise NotFound(f"no backup {backup_id!r} in this project", fix="list them with `codeforge backups list`")
    return row


def _source(ctx: Context, backup: BackupRow) -> tuple[DatabaseRow, rt.Handle]:
    """The database a backup came from and its engine: restores and verifies run there."""
    db = ctx.session.get(DatabaseRow, backup.database_id) if backup.database_id else None
    if db is None:
        raise BadInput(
            f"the database backup {backup.id} came from ({backup.database_name!r}) was deleted, and its "
            "role with it: the backup can no longer be restored or verified here",
            fix=f"keep a database until its backups are no longer needed; `codeforge backups delete "
            f"{backup.id}` removes this one",
        )
    return db, rt.database_engine(ctx, db)


@implements(catalog.backups.RESTORE)
def restore_backup(ctx: Context, data: catalog.backups.BackupRestoreInput) -> catalog.databases.DatabaseInfo:
    from codeforge.platform.databases.service import database_info, finish_new_database

    backup = _backup_row(ctx, data.id)
    store = _store(ctx.settings)
    path = store.path(_file(backup))
    if not path.exists() or not store.checksum_ok(_file(backup)):
        raise BadInput(f"backup {backup.id} is missing or damaged (checksum mismatch)", fix="restore another backup")
    db, handle = _source(ctx, backup)
    if data.in_place:
        if data.confirm != db.name:
            raise BadInput(
                "an in-place restore replaces the database's contents",
                errors=[
                    FieldProblem("confirm", "does not match", f"type the database's name ({db.name!r}) to confirm")
                ],
            )
        engine = rt.instance_engine(handle, db)
        if ctx.job:
            ctx.job.progress(0.1, f"restoring {backup.id} into a fresh copy of {db.name}")
        if isinstance(engine, PostgresEngine):
            engine.restore(path, db.physical, db.role, replace=True)  # complete before the old contents go
        else:
            engine.drop_database(db.physical, missing_ok=True)
            engine.restore(path, db.physical, db.role)
        return database_info(ctx, db)
    target = data.target or f"{backup.database_name[:24]}-restored-{backup.id[:6]}"
    from codeforge.platform.databases.service import check_free

    check_free(ctx, target)
    project = ctx.require_project()
    physical, role = rt.physical_names(project.slug, target, handle.kind)
    password = new_password()
    with rt.side_session(ctx) as s:
        pending = DatabaseRow(
            project_id=project.id,
            engine_id=handle.row.id,
            name=target,
            physical=physical,
            role=role,
            password_encrypted=ctx.cipher.encrypt(password),
            host=handle.admin.host,
            port=handle.admin.port,
            method="restore",
            created_by=ctx.actor.username,
        )
        s.add(pending)
    try:
        # A database of its own, with its own role, like any other the project creates.
        handle.admin.create_database(physical, role, password)
        handle.admin.drop_database(physical)  # the role stays; the restore makes the database
        if ctx.job:
            ctx.job.progress(0.2, f"restoring {backup.id} into {target}")
        handle.admin.restore(path, physical, role)
    except BaseException:
        handle.admin.drop_database(physical, role, missing_ok=True)
        with rt.side_session(ctx) as s:
            gone = s.get(DatabaseRow, pending.id)
            if gone is not None:
                s.delete(gone)
        raise
    return database_info(ctx, finish_new_database(ctx, pending.id))


@implements(catalog.backups.VERIFY)
def verify_backup(ctx: Context, data: catalog.backups.BackupIdInput) -> catalog.backups.BackupVerifyResult:
    backup = _backup_row(ctx, data.id)
    db, handle = _source(ctx, backup)
    if ctx.job:
        ctx.job.progress(0.1, "checking the checksum and restoring into a scratch database")
    result = verify(_store(ctx.settings), _file(backup), handle.admin, owner=db.role)
    backup.verified_at, backup.verified_ok = utcnow(), result.ok
    return catalog.backups.BackupVerifyResult(
        id=backup.id,
        ok=result.ok,
        checksum_ok=result.checksum_ok,
        tables_expected=result.tables_expected,
        tables_restored=result.tables_restored,
        seconds=result.seconds,
        message=result.message,
    )


@implements(catalog.backups.DELETE)
def delete_backup(ctx: Context, data: catalog.backups.BackupIdInput) -> catalog.backups.BackupDeleted:
    backup = _backup_row(ctx, data.id)
    _store(ctx.settings).delete(_file(backup))
    ctx.session.delete(backup)
    return catalog.backups.BackupDeleted(id=data.id, deleted=True)


def _schedule_info(db: DatabaseRow, s: BackupScheduleRow) -> catalog.backups.ScheduleInfo:
    return catalog.backups.ScheduleInfo(
        database=db.name,
        cron=s.cron,
        keep_last=s.keep_last,
        max_age_days=s.max_age_days,
        next_run_at=s.next_run_at,
        last_run_at=s.last_run_at,
        last_error=s.last_error,
    )


@implements(catalog.backups.SCHEDULE)
def schedule_backups(ctx: Context, data: catalog.backups.ScheduleInput) -> catalog.backups.ScheduleInfo:
    check_cron(data.cron)
    db = rt.get_database(ctx, data.name)
    row = ctx.session.scalar(select(BackupScheduleRow).where(BackupScheduleRow.database_id == db.id))
    if row is None:
        row = BackupScheduleRow(database_id=db.id, created_by=ctx.actor.username)
        ctx.session.add(row)
    row.cron, row.keep_last, row.max_age_days = data.cron, data.keep_last, data.max_age_days
    row.next_run_at = next_run(data.cron, datetime.now(UTC))
    ctx.session.flush()
    return _schedule_info(db, row)


@implements(catalog.backups.SCHEDULES)
def list_schedules(ctx: Context, data: catalog.databases.DatabaseListInput) -> catalog.backups.ScheduleList:
    rows = ctx.session.execute(
        select(DatabaseRow, BackupScheduleRow)
        .join(BackupScheduleRow, BackupScheduleRow.database_id == DatabaseRow.id)
        .where(DatabaseRow.project_id == ctx.require_project().id)
    ).all()
    return catalog.backups.ScheduleList(items=[_schedule_info(db, s) for db, s in rows])


@implements(catalog.backups.UNSCHEDULE)
def unschedule_backups(ctx: Context, data: catalog.databases.DatabaseNameInput) -> catalog.backups.ScheduleRemoved:
    db = rt.get_database(ctx, data.name)
    row = ctx.session.scalar(select(BackupScheduleRow).where(BackupScheduleRow.database_id == db.id))
    if row is not None:
        ctx.session.delete(row)
    return catalog.backups.ScheduleRemoved(database=data.name, removed=row is not None)


def prune(
    session: Session, settings: Settings, db: DatabaseRow, keep_last: int, max_age: timedelta, now: datetime
) -> int:
    """Retention: keep the newest `keep_last`, and none older than `max_age` except the
    newest of all: a database that stopped changing still keeps one backup."""
    rows = session.scalars(
        select(BackupRow).where(BackupRow.database_id == db.id).order_by(BackupRow.created_at.desc())
    ).all()
    store = _store(settings)
    removed = 0
    for i, row in enumerate(rows):
        if i > 0 and (i >= keep_last or now - row.created_at > max_age):
            store.delete(_file(row))
            session.delete(row)
            removed += 1
    return removed


def run_due_backups(db: Database, settings: Settings, cipher: Cipher, now: datetime | None = None) -> int:
    """Run every schedule that is due, then apply its retention; returns how many ran.

    Each schedule is first claimed by moving its next run forward with a conditional
    UPDATE, committed at once: of several replicas ticking together exactly one runs it,
    and no transaction stays open (SQLite: no write lock held) while the dump runs."""
    from codeforge.catalog import Role
    from codeforge.platform.context import Actor

    now = now or datetime.now(UTC)
    with db.session() as session:
        due = [
            (s.id, s.next_run_at, s.cron)
            for s in session.scalars(select(BackupScheduleRow).where(BackupScheduleRow.next_run_at <= now))
        ]
    ran = 0
    for sched_id, when, cron in due:
        with db.session() as session:
            claimed = session.execute(
                update(BackupScheduleRow)
                .where(BackupScheduleRow.id == sched_id, BackupScheduleRow.next_run_at == when)
                .values(next_run_at=next_run(cron, now), last_run_at=now)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                continue  # another replica took it
        error: str | None = None
        try:
            with db.session() as session:
                sched = session.get(BackupScheduleRow, sched_id)
                database = session.get(DatabaseRow, sched.database_id) if sched else None
                engine_row = session.get(EngineRow, database.engine_id) if database else None
                if sched is None or database is None or engine_row is None:
                    continue
                ctx = Context(
                    session=session,
                    actor=Actor("", "scheduler", engine_row.org_id, "", Role.ADMIN),
                    settings=settings,
                    cipher=cipher,
                )
                _backup(session, settings, rt.open_engine(ctx, engine_row), database)
                prune(session, settings, database, sched.keep_last, timedelta(days=sched.max_age_days), now)
        except Exception as exc:  # recorded on the schedule, shown in the pane and `backups schedules`
            log.warning("scheduled backup failed", extra={"schedule": sched_id, "error": str(exc)})
            error = str(exc)[:2000]
        with db.session() as session:
            row = session.get(BackupScheduleRow, sched_id)
            if row is not None:
                row.last_error = error
        ran += 1
    return ran


class BackupScheduler:
    """Calls `run_due_backups` every `interval` seconds on a daemon thread; the platform
    starts it with the service and stops it on shutdown."""

    def __init__(self, db: Database, settings: Settings, cipher: Cipher, interval: float = 30.0) -> None:
        self.db, self.settings, self.cipher, self.interval = db, settings, cipher, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="codeforge-backup-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                run_due_backups(self.db, self.settings, self.cipher)
            except Exception:
                log.exception("backup scheduler tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
