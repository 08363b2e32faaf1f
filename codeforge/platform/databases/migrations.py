"""Migration tracking: apply a folder of plain SQL files (in name order) or an Alembic
project to a database, and record each applied migration with its checksum and time in a
table inside that database, so pending migrations and drift (a file changed after it was
applied) can be reported from the database itself."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pymysql.constants.CLIENT

from codeforge.catalog.errors import BadInput, ExternalFailure, FieldProblem
from codeforge.platform.databases.engines.common import Connection, tail

__all__ = [
    "TRACK_TABLE",
    "Migration",
    "MigrationSet",
    "MigrationStatus",
    "apply",
    "load_files",
    "load_folder",
    "status",
]

TRACK_TABLE = "codeforge_migrations"
_MAX_FILE = 16 * 1024 * 1024


@dataclass(frozen=True)
class Migration:
    name: str  # file name, or "alembic:<revision>"
    checksum: str
    sql: str = ""  # plain SQL migrations only


@dataclass(frozen=True)
class MigrationSet:
    kind: str  # "sql" or "alembic"
    migrations: list[Migration]
    alembic_config: Path | None = None


@dataclass(frozen=True)
class AppliedRecord:
    name: str
    checksum: str
    applied_at: datetime
    seconds: float


@dataclass
class MigrationStatus:
    kind: str
    applied: list[AppliedRecord] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)  # applied, and the file changed since
    missing: list[str] = field(default_factory=list)  # applied, and the file is gone


def _sum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_files(files: list[tuple[str, str]]) -> MigrationSet:
    """Plain SQL migrations given as (file name, content), e.g. sent by an editor."""
    seen = set()
    out = []
    for name, content in sorted(files):
        if not name.endswith(".sql") or "/" in name or name.startswith("."):
            raise BadInput(
                f"{name!r} is not a migration file name",
                errors=[
                    FieldProblem("files", "names must be plain *.sql file names", "send only the folder's .sql files")
                ],
            )
        if name in seen:
            raise BadInput(f"{name!r} is given twice", fix="send each file once")
        seen.add(name)
        out.append(Migration(name, _sum(content.encode()), content))
    return MigrationSet("sql", out)


def load_folder(folder: Path) -> MigrationSet:
    """A folder of *.sql files, or an Alembic project (alembic.ini, or env.py + versions/)."""
    if not folder.is_dir():
        raise BadInput(
            f"migration folder {folder} does not exist",
            errors=[
                FieldProblem(
                    "path", "not a directory on the platform host", "give the folder that holds the migrations"
                )
            ],
        )
    ini = folder / "alembic.ini"
    if ini.exists() or (folder / "env.py").exists():
        return _alembic_set(folder)
    files = []
    for p in sorted(folder.glob("*.sql")):
        if p.stat().st_size > _MAX_FILE:
            raise BadInput(f"{p.name} is larger than 16 MiB", fix="split it")
        files.append((p.name, p.read_text()))
    if not files:
        raise BadInput(
            f"no *.sql files and no Alembic project in {folder}",
            fix="add NNN_name.sql files, or point at the folder with alembic.ini",
        )
    return load_files(files)


# -- target database access (same DB-API paramstyle on both drivers) ------------------------------


@contextmanager
def _connect(conn: Connection, multi: bool = False) -> Iterator[Any]:
    try:
        if conn.engine == "postgresql":
            c: Any = psycopg.connect(
                host=conn.host,
                port=conn.port,
                dbname=conn.database,
                user=conn.user,
                password=conn.password,
                connect_timeout=5,
            )
        else:
            c = pymysql.connect(
                host=conn.host,
                port=conn.port,
                database=conn.database,
                user=conn.user,
                password=conn.password,
                connect_timeout=5,
                autocommit=False,
                client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS if multi else 0,
            )
    except (psycopg.OperationalError, pymysql.err.OperationalError) as exc:
        raise ExternalFailure(
            f"cannot connect to {conn.redacted_url()}: {tail(str(exc), 1)}",
            fix="check that the database exists and its engine is running",
        ) from None
    try:
        yield c
    finally:
        c.close()


def _ensure_table(c: Any, engine: str) -> None:
    ts = "timestamptz" if engine == "postgresql" else "TIMESTAMP(6)"
    with c.cursor() as cur:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {TRACK_TABLE} (name VARCHAR(255) PRIMARY KEY, checksum CHAR(64) NOT NULL, "
            f"kind VARCHAR(16) NOT NULL, applied_at {ts} NOT NULL, seconds DOUBLE PRECISION NOT NULL)"
        )
    c.commit()


def _applied(c: Any, engine: str) -> list[AppliedRecord]:
    _ensure_table(c, engine)
    with c.cursor() as cur:
        cur.execute(f"SELECT name, checksum, applied_at, seconds FROM {TRACK_TABLE} ORDER BY applied_at, name")
        rows = cur.fetchall()
    c.commit()
    return [AppliedRecord(r[0], r[1], r[2], float(r[3])) for r in rows]


def status(conn: Connection, mset: MigrationSet) -> MigrationStatus:
    with _connect(conn) as c:
        applied = _applied(c, conn.engine)
    st = MigrationStatus(mset.kind, applied=applied)
    by_name = {a.name: a for a in applied}
    names = {m.name for m in mset.migrations}
    for m in mset.migrations:
        rec = by_name.get(m.name)
        if rec is None:
            st.pending.append(m.name)
        elif rec.checksum != m.checksum:
            st.drifted.append(m.name)
    st.missing = [
        a.name for a in applied if a.name not in names and a.name.startswith("alembic:") == (mset.kind == "alembic")
    ]
    return st


Progress = Callable[[float, str], None]


def apply(conn: Connection, mset: MigrationSet, progress: Progress | None = None) -> list[str]:
    """Apply the pending migrations in order; returns their names. Refuses while any applied
    migration has drifted, since the database no longer matches what the files say."""
    st = status(conn, mset)
    if st.drifted:
        raise BadInput(
            f"applied migration(s) changed since they were applied: {', '.join(st.drifted)}",
            fix="restore the original files and add a new migration for the change",
        )
    if mset.kind == "alembic":
        return _alembic_upgrade(conn, mset, st, progress)
    pending = [m for m in mset.migrations if m.name in set(st.pending)]
    done: list[str] = []
    with _connect(conn, multi=True) as c:
        for i, m in enumerate(pending):
            if progress:
                progress(i / max(len(pending), 1), f"applying {m.name}")
            started = time.perf_counter()
            try:
                with c.cursor() as cur:
                    cur.execute(m.sql)
                    while conn.engine == "mysql" and cur.nextset():
                        pass
                    _record(cur, m, "sql", time.perf_counter() - started, conn.engine)
                c.commit()
            except (psycopg.Error, pymysql.err.MySQLError) as exc:
                c.rollback()
                partial = (
                    " (MySQL commits DDL as it goes: statements before the failing one stay applied)"
                    if conn.engine == "mysql"
                    else ""
                )
                raise BadInput(
                    f"migration {m.name} failed: {tail(str(exc), 2)}{partial}",
                    fix=f"correct {m.name} and apply again; {len(done)} earlier migration(s) were applied",
                ) from None
            done.append(m.name)
    return done


def _record(cur: Any, m: Migration, kind: str, seconds: float, engine: str) -> None:
    now = "now()" if engine == "postgresql" else "CURRENT_TIMESTAMP(6)"
    cur.execute(
        f"INSERT INTO {TRACK_TABLE} (name, checksum, kind, applied_at, seconds) VALUES (%s, %s, %s, {now}, %s)",
        (m.name, m.checksum, kind, round(seconds, 4)),
    )


# -- Alembic: run in a child process (user code: env.py) -------------------------------------------


def _sqlalchemy_url(conn: Connection) -> str:
    driver = "postgresql+psycopg" if conn.engine == "postgresql" else "mysql+pymysql"
    return conn.url.replace(f"{conn.engine}://", f"{driver}://", 1)


def _run_alembic(config: Path, action: str, conn: Connection | None = None) -> dict[str, Any]:
    env = {**os.environ, "CODEFORGE_ALEMBIC_CONFIG": str(config), "CODEFORGE_ALEMBIC_ACTION": action}
    if conn is not None:
        env["CODEFORGE_ALEMBIC_URL"] = _sqlalchemy_url(conn)
    proc = subprocess.run(
        [sys.executable, "-m", "codeforge.platform.databases.alembic_runner"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(config.parent),
        timeout=3600,
    )
    if proc.returncode != 0:
        raise BadInput(
            f"alembic {action} failed: {tail(proc.stderr, 3)}",
            fix="fix the Alembic project (run `alembic check` locally) and apply again",
        )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _alembic_set(folder: Path) -> MigrationSet:
    config = folder / "alembic.ini" if (folder / "alembic.ini").exists() else folder
    info = _run_alembic(config, "revisions")
    migrations = [Migration(f"alembic:{r['id']}", _sum(Path(r["path"]).read_bytes())) for r in info["revisions"]]
    return MigrationSet("alembic", migrations, config)


def _alembic_upgrade(conn: Connection, mset: MigrationSet, st: MigrationStatus, progress: Progress | None) -> list[str]:
    assert mset.alembic_config is not None
    if progress:
        progress(0.1, "running alembic upgrade head")
    started = time.perf_counter()
    info = _run_alembic(mset.alembic_config, "upgrade", conn)
    now_applied = {f"alembic:{r}" for r in info["applied"]}
    done = [m for m in mset.migrations if m.name in set(st.pending) and m.name in now_applied]
    with _connect(conn) as c, c.cursor() as cur:
        for m in done:
            _record(cur, m, "alembic", (time.perf_counter() - started) / max(len(done), 1), conn.engine)
        c.commit()
    return [m.name for m in done]
