"""Backups with real pg_dump/pg_restore and mariadb-dump, retention, verify, faults."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pymysql
import pytest

from codeforge.catalog.errors import BadInput, ExternalFailure
from codeforge.platform.databases.backups import BackupStore, check_cron, next_run, verify
from codeforge.platform.databases.engines.common import Connection
from codeforge.platform.databases.engines.mysql import MySQLEngine
from codeforge.platform.databases.engines.postgres import PostgresEngine
from tests.conftest import require
from tests.platform.databases.conftest import uniq


@pytest.fixture
def pg_db(pg: PostgresEngine) -> Iterator[Connection]:
    conn = pg.create_database(uniq("bk"))
    with psycopg.connect(conn.url) as c:
        c.execute("CREATE TABLE a (i int); CREATE TABLE b (s text); INSERT INTO a SELECT generate_series(1, 500)")
    yield conn
    pg.drop_database(conn.database, conn.user, missing_ok=True)


def test_backup_restore_verify_postgres(pg: PostgresEngine, pg_db: Connection, tmp_path: Path) -> None:
    store = BackupStore(tmp_path / "backups")
    key = f"demo/{pg_db.database}"
    backup = store.create(pg, pg_db.database, key=key)
    assert backup.tables == 2 and backup.size_bytes > 0 and len(backup.sha256) == 64
    assert store.list(key) == [backup] and store.checksum_ok(backup)
    assert sorted(p.name for p in (tmp_path / "backups" / key).iterdir()) == sorted(
        [backup.file, backup.file.replace(".dump", ".json")]
    )
    target = uniq("restored")
    pg.restore(store.path(backup), target, owner=pg_db.user)
    try:
        with psycopg.connect(pg.connection(target, pg_db.user, pg_db.password).url) as c:
            assert c.execute("SELECT count(*) FROM a").fetchone() == (500,)
    finally:
        pg.drop_database(target, missing_ok=True)
    result = verify(store, backup, pg, owner=pg_db.user)
    assert result.ok and result.tables_restored == 2, result.message
    assert not [d for d in pg.list_databases() if d.name.startswith("cfverify_")]
    # A damaged file fails verification by checksum, before any restore.
    with store.path(backup).open("r+b") as fh:
        fh.seek(10)
        fh.write(b"XX")
    bad = verify(store, backup, pg, owner=pg_db.user)
    assert not bad.ok and not bad.checksum_ok and "checksum" in bad.message


def test_retention_by_count_and_age(pg: PostgresEngine, pg_db: Connection, tmp_path: Path) -> None:
    store = BackupStore(tmp_path)
    key = f"demo/{pg_db.database}"
    made = [store.create(pg, pg_db.database, key=key) for _ in range(4)]
    assert len(store.list(key)) == 4
    removed = store.prune(key, keep_last=2)
    assert {b.id for b in removed} == {b.id for b in made[:2]} or len(removed) == 2
    assert len(store.list(key)) == 2
    removed = store.prune(key, max_age=timedelta(days=1), now=datetime.now(UTC) + timedelta(days=2))
    assert len(removed) == 2 and store.list(key) == []
    assert list((tmp_path / key).iterdir()) == []


def test_backup_mysql(mysql: MySQLEngine, tmp_path: Path) -> None:
    conn = mysql.create_database(uniq("bk"))
    try:
        with (
            pymysql.connect(
                host=conn.host,
                port=conn.port,
                user=conn.user,
                password=conn.password,
                database=conn.database,
                autocommit=True,
            ) as c,
            c.cursor() as cur,
        ):
            cur.execute("CREATE TABLE a (i INT)")
            cur.execute("INSERT INTO a VALUES (1), (2), (3)")
        store = BackupStore(tmp_path)
        backup = store.create(mysql, conn.database, key=f"demo/{conn.database}")
        assert backup.file.endswith(".sql") and backup.tables == 1 and backup.engine == "mysql"
        result = verify(store, backup, mysql, owner=conn.user)
        assert result.ok, result.message
        target = uniq("restored")
        mysql.restore(store.path(backup), target, owner=conn.user)
        try:
            with (
                pymysql.connect(
                    host=conn.host, port=conn.port, user=conn.user, password=conn.password, database=target
                ) as c,
                c.cursor() as cur,
            ):
                cur.execute("SELECT count(*) FROM a")
                assert cur.fetchone() == (3,)
        finally:
            mysql.drop_database(target, missing_ok=True)
    finally:
        mysql.drop_database(conn.database, conn.user)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs: too small for the backup below."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    ok = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True
        ).returncode
        == 0
    )
    require("tmpfs-mount", ok, "mounting a small tmpfs needs root")
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True)


def test_full_disk_leaves_no_half_backup(local_pg: PostgresEngine, tiny_disk: Path) -> None:
    conn = local_pg.create_database(uniq("big"))
    try:
        with psycopg.connect(conn.url) as c:
            # Random bytes do not compress: the archive is several MiB.
            c.execute(
                "CREATE TABLE blob AS SELECT decode(md5(random()::text) || md5(random()::text), 'hex') "
                "AS b FROM generate_series(1, 200000)"
            )
        store = BackupStore(tiny_disk)
        key = f"demo/{conn.database}"
        with pytest.raises(ExternalFailure) as err:
            store.create(local_pg, conn.database, key=key)
        assert "No space left on device" in err.value.message or "space" in err.value.fix
        assert "free space" in err.value.fix
        assert store.list(key) == []
        assert [p for p in tiny_disk.rglob("*") if p.is_file()] == []
    finally:
        local_pg.drop_database(conn.database, conn.user)


def test_sweep_removes_what_a_killed_backup_left(tmp_path: Path) -> None:
    folder = tmp_path / "demo" / "db"
    folder.mkdir(parents=True)
    (folder / "20260101T000000Z-abc.dump.partial").write_bytes(b"half")
    (folder / "20260101T000000Z-def.dump").write_bytes(b"no metadata")
    (folder / "20260101T000000Z-ghi.json").write_text(json.dumps({"file": "x"}))  # unreadable metadata
    store = BackupStore(tmp_path)
    assert store.list("demo/db") == []
    removed = {p.name for p in store.sweep()}
    assert removed == {"20260101T000000Z-abc.dump.partial", "20260101T000000Z-def.dump"}
    with pytest.raises(BadInput):
        store.list("../etc")


def test_cron_schedules() -> None:
    start = datetime(2026, 1, 1, 2, 30, tzinfo=UTC)
    assert next_run("0 3 * * *", start) == datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    assert next_run("*/15 * * * *", start) == datetime(2026, 1, 1, 2, 45, tzinfo=UTC)
    with pytest.raises(BadInput) as err:
        check_cron("every day")
    assert err.value.errors[0].field == "cron" and "minute hour" in err.value.errors[0].fix
