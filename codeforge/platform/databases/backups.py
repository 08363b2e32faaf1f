"""Backups on disk: one archive per backup with a SHA-256 checksum beside it, written under a
temporary name and renamed only once complete, so a full disk or a killed process never
leaves something that looks like a backup. Retention by count and age; cron schedules."""

from __future__ import annotations

import builtins
import errno
import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from croniter import croniter

from codeforge.catalog.errors import BadInput, ExternalFailure, FieldProblem, NotFound
from codeforge.platform.databases.engines.common import check_name, file_lock

__all__ = [
    "BackupFile",
    "BackupStore",
    "Dumper",
    "VerifyResult",
    "check_cron",
    "next_run",
    "verify",
]

PARTIAL_SUFFIX = ".partial"


class Dumper(Protocol):
    kind: str

    def dump(self, database: str, path: Path) -> None: ...
    def archive_tables(self, path: Path) -> int: ...
    def restore(self, path: Path, target: str, owner: str) -> None: ...
    def table_count(self, database: str) -> int: ...
    def drop_database(self, name: str, role: str | None = None, *, missing_ok: bool = False) -> None: ...


@dataclass(frozen=True)
class BackupFile:
    id: str
    key: str  # the folder it lives in: one per database
    file: str
    engine: str
    database: str
    sha256: str
    size_bytes: int
    tables: int
    created_at: str  # ISO 8601, UTC
    seconds: float

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checksum_ok: bool
    tables_expected: int
    tables_restored: int
    seconds: float
    message: str


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_failed(database: str, exc: OSError) -> ExternalFailure:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ExternalFailure(
            f"writing the backup of {database!r} failed: the disk is full",
            fix="free space in the backup directory or delete old backups",
        )
    return ExternalFailure(
        f"writing the backup of {database!r} failed: {exc.strerror}",
        fix="try again; if it fails again, check the backup directory's permissions",
    )


class BackupStore:
    """Backups under `root/<key>/`: `<stamp>-<id>.dump` (or `.sql`) plus `<same>.json`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, key: str) -> Path:
        if not key or ".." in key.split("/") or key.startswith("/"):
            raise BadInput(f"bad backup key {key!r}", fix="use project/database")
        return self.root / key

    def create(self, engine: Dumper, database: str, *, key: str) -> BackupFile:
        folder = self._dir(key)
        folder.mkdir(parents=True, exist_ok=True)
        bid = secrets.token_hex(6)
        now = datetime.now(UTC)
        stem = f"{now:%Y%m%dT%H%M%SZ}-{bid}"
        ext = ".dump" if engine.kind == "postgresql" else ".sql"
        data = folder / (stem + ext)
        meta = folder / (stem + ".json")
        tmp_data = folder / (stem + ext + PARTIAL_SUFFIX)
        tmp_meta = folder / (stem + ".json" + PARTIAL_SUFFIX)
        lock = folder / f".{stem}.lock"
        started = time.perf_counter()
        # The lock says "being written": a sweep (of this or another backup, or the
        # supervisor's) deletes only the leftovers of backups whose writer is gone.
        with file_lock(lock):
            try:
                try:
                    engine.dump(database, tmp_data)
                    _fsync(tmp_data)
                except OSError as exc:
                    raise _write_failed(database, exc) from None
                backup = BackupFile(
                    id=bid,
                    key=key,
                    file=data.name,
                    engine=engine.kind,
                    database=database,
                    sha256=_sha256(tmp_data),
                    size_bytes=tmp_data.stat().st_size,
                    tables=engine.archive_tables(tmp_data),
                    created_at=now.isoformat(),
                    seconds=round(time.perf_counter() - started, 3),
                )
                try:
                    tmp_meta.write_text(json.dumps(asdict(backup), indent=1))
                    _fsync(tmp_meta)
                    # Data first: a listing shows a backup only when its metadata exists, and the
                    # metadata is renamed last, so a half-finished pair is never listed.
                    os.replace(tmp_data, data)
                    os.replace(tmp_meta, meta)
                except OSError as exc:
                    data.unlink(missing_ok=True)
                    raise _write_failed(database, exc) from None
            finally:
                tmp_data.unlink(missing_ok=True)
                tmp_meta.unlink(missing_ok=True)
                lock.unlink(missing_ok=True)
        return backup

    def list(self, key: str) -> builtins.list[BackupFile]:
        """Newest first; only complete backups."""
        folder = self._dir(key)
        out = []
        for meta in folder.glob("*.json") if folder.is_dir() else ():
            try:
                backup = BackupFile(**json.loads(meta.read_text()))
            except (OSError, ValueError, TypeError):
                continue
            if (folder / backup.file).exists():
                out.append(backup)
        return sorted(out, key=lambda b: b.created_at, reverse=True)

    def get(self, key: str, backup_id: str) -> BackupFile:
        for b in self.list(key):
            if b.id == backup_id:
                return b
        raise NotFound(f"no backup {backup_id!r} of {key}", fix="list backups with `databases backups_list`")

    def path(self, backup: BackupFile) -> Path:
        return self._dir(backup.key) / backup.file

    def checksum_ok(self, backup: BackupFile) -> bool:
        return _sha256(self.path(backup)) == backup.sha256

    def delete(self, backup: BackupFile) -> None:
        # Metadata first, so an interrupted delete leaves an unlisted file for the sweep.
        folder = self._dir(backup.key)
        (folder / (Path(backup.file).stem + ".json")).unlink(missing_ok=True)
        (folder / backup.file).unlink(missing_ok=True)

    def prune(
        self, key: str, *, keep_last: int | None = None, max_age: timedelta | None = None, now: datetime | None = None
    ) -> builtins.list[BackupFile]:
        """Delete backups beyond the newest `keep_last` and those older than `max_age`."""
        now = now or datetime.now(UTC)
        doomed = []
        for i, b in enumerate(self.list(key)):
            if (keep_last is not None and i >= keep_last) or (max_age is not None and now - b.created > max_age):
                doomed.append(b)
        for b in doomed:
            self.delete(b)
        return doomed

    def sweep(self, key: str | None = None) -> builtins.list[Path]:
        """Remove what interrupted backups left (`.partial` files, archives without metadata)
        in `key`'s folder, or everywhere when no key is given: only those whose writer is
        gone, never a backup still being written by this or another process."""
        removed: builtins.list[Path] = []
        top = self._dir(key) if key else self.root
        if not top.is_dir():
            return removed
        for p in sorted(top.rglob("*")):
            if not p.is_file():
                continue
            orphan = p.suffix in (".dump", ".sql") and not p.with_suffix(".json").exists()
            stale_lock = p.name.startswith(".") and p.name.endswith(".lock")
            if not (p.name.endswith(PARTIAL_SUFFIX) or orphan or stale_lock):
                continue
            stem = p.name.lstrip(".").split(".", 1)[0]
            lock = p.parent / f".{stem}.lock"
            if not lock.exists() and not p.exists():
                continue
            with file_lock(lock, wait=False) as mine:
                if not mine:
                    continue  # being written
                if p != lock:
                    p.unlink(missing_ok=True)
                    removed.append(p)
                lock.unlink(missing_ok=True)
        return removed


def verify(store: BackupStore, backup: BackupFile, engine: Dumper, owner: str) -> VerifyResult:
    """Check the checksum, restore into a scratch database, compare its tables with the
    archive's, and drop the scratch database again."""
    started = time.perf_counter()
    if not store.checksum_ok(backup):
        return VerifyResult(
            False,
            False,
            backup.tables,
            0,
            round(time.perf_counter() - started, 3),
            "checksum mismatch: the file changed since it was written",
        )
    scratch = check_name(f"cfverify_{secrets.token_hex(4)}")
    try:
        engine.restore(store.path(backup), scratch, owner)
        restored = engine.table_count(scratch)
    except ExternalFailure as exc:
        return VerifyResult(
            False, True, backup.tables, 0, round(time.perf_counter() - started, 3), f"restore failed: {exc.detail}"
        )
    finally:
        engine.drop_database(scratch, missing_ok=True)
    ok = restored == backup.tables
    msg = f"restored {restored} table(s)" + ("" if ok else f", expected {backup.tables}")
    return VerifyResult(ok, True, backup.tables, restored, round(time.perf_counter() - started, 3), msg)


def check_cron(expr: str, field: str = "cron") -> str:
    if not croniter.is_valid(expr):
        raise BadInput(
            f"{expr!r} is not a cron expression",
            errors=[
                FieldProblem(
                    field,
                    "not a valid cron expression",
                    "use five fields: minute hour day month weekday, e.g. '0 3 * * *'",
                )
            ],
        )
    return expr


def next_run(expr: str, after: datetime) -> datetime:
    nxt = croniter(check_cron(expr), after).get_next(datetime)
    assert isinstance(nxt, datetime)
    return nxt if nxt.tzinfo else nxt.replace(tzinfo=UTC)
