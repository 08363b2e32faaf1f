"""The databases capability through a real `codeforge serve` and the HTTP client: the
embedded cluster, a btrfs-backed cluster, MariaDB, and the faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from codeforge.catalog.errors import BadInput, CodeForgeError, Conflict, NotFound
from codeforge.client import PlatformClient
from codeforge.platform.databases.engines.cluster import free_port
from codeforge.platform.databases.pooling import find_pgbouncer
from tests.conftest import RunningPlatform
from tests.conftest import run_operation as run
from tests.platform.databases.conftest import EXTERNAL_MYSQL, uniq


@pytest.fixture(scope="module")
def client(platform: RunningPlatform) -> Iterator[PlatformClient]:
    with PlatformClient(platform.url, platform.token, timeout=120) as c:
        yield c


def reveal(client: PlatformClient, project: str, var: str) -> str:
    return str(run(client, "env.reveal", {"project": project, "name": var})["value"])


def count(url: str) -> int:
    with psycopg.connect(url) as c:
        row = c.execute("SELECT count(*) FROM t").fetchone()
    assert row is not None
    return int(row[0])


def test_embedded_journey(client: PlatformClient, platform: RunningPlatform, tmp_path: Path) -> None:
    p = platform.project
    # First database: the platform makes its own cluster (password auth) on first use.
    main = run(client, "databases.create", {"project": p, "name": "main"})
    assert main["kind"] == "postgresql" and main["env_var"] == "DATABASE_URL" and "***" in main["url"]
    engines = run(client, "engines.list", {})["items"]
    assert [e["kind"] for e in engines] == ["postgresql-local"] and engines[0]["running"]
    url = reveal(client, p, "DATABASE_URL")
    with psycopg.connect(url) as c:
        c.execute("CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 100)")
    # Another project's database is out of this one's reach.
    run(client, "projects.create", {"slug": "other"})
    run(client, "databases.create", {"project": "other", "name": "main"})
    other_url = reveal(client, "other", "DATABASE_URL")
    other_db = other_url.rsplit("/", 1)[1]
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(url.rsplit("/", 1)[0] + "/" + other_db)

    # A branch that takes over DATABASE_URL (what the git-branch code action does).
    # An open session: the TEMPLATE copy needs force.
    with psycopg.connect(url), pytest.raises(CodeForgeError, match="open session"):
        run(client, "databases.branch", {"project": p, "source": "main", "name": "feature-x"})
    br = run(
        client, "databases.branch", {"project": p, "source": "main", "name": "feature-x", "env_var": "DATABASE_URL"}
    )
    assert br["parent"] == "main" and br["method"] == "template-copy" and br["seconds"] is not None
    branch_url = reveal(client, p, "DATABASE_URL")
    assert branch_url != url
    with psycopg.connect(branch_url) as c:
        c.execute("INSERT INTO t VALUES (-1)")
    assert count(branch_url) == 101 and count(url) == 100
    listed = {d["name"]: d for d in run(client, "databases.list", {"project": p})["items"]}
    assert listed["main"]["env_var"] is None and listed["feature-x"]["env_var"] == "DATABASE_URL"
    assert listed["main"]["size_bytes"] > 0
    tree = run(client, "databases.tree", {"project": p})
    assert tree["roots"][0]["name"] == "main" and tree["roots"][0]["children"][0]["name"] == "feature-x"
    assert "└─ feature-x" in tree["text"]
    run(client, "databases.reset", {"project": p, "name": "feature-x"})
    assert count(branch_url) == 100
    with pytest.raises(Conflict, match="has branches"):
        run(client, "databases.delete", {"project": p, "name": "main"})
    gone = run(client, "databases.delete", {"project": p, "name": "feature-x"})
    assert gone == {"deleted": ["feature-x"], "env_var": "DATABASE_URL"}
    assert reveal(client, p, "DATABASE_URL") == url  # handed back to the parent

    # Backups: make, list, verify, restore into a new database, delete.
    backup = run(client, "backups.create", {"project": p, "name": "main"})
    assert backup["tables"] == 1 and len(backup["sha256"]) == 64
    assert [b["id"] for b in run(client, "backups.list", {"project": p})["items"]] == [backup["id"]]
    verified = run(client, "backups.verify", {"project": p, "id": backup["id"]})
    assert verified["ok"] and verified["tables_restored"] == 1
    restored = run(client, "backups.restore", {"project": p, "id": backup["id"], "target": "copy"})
    assert restored["name"] == "copy" and restored["user"] != main["user"]
    with pytest.raises(CodeForgeError, match="confirm"):
        run(client, "backups.restore", {"project": p, "id": backup["id"], "in_place": True, "confirm": "nope"})
    with psycopg.connect(url) as c:
        c.execute("DELETE FROM t")
    run(client, "backups.restore", {"project": p, "id": backup["id"], "in_place": True, "confirm": "main"})
    assert count(url) == 100
    sched = run(client, "backups.schedule", {"project": p, "name": "main", "cron": "0 3 * * *", "keep_last": 3})
    assert sched["next_run_at"].endswith(("03:00:00Z", "03:00:00+00:00"))
    with pytest.raises(BadInput, match="cron"):
        run(client, "backups.schedule", {"project": p, "name": "main", "cron": "every night at 3"})
    assert len(run(client, "backups.schedules", {"project": p})["items"]) == 1
    run(client, "backups.delete", {"project": p, "id": backup["id"]})
    assert run(client, "backups.list", {"project": p})["items"] == []

    # Migrations sent as files, as an editor does.
    files = [
        {"name": "001_a.sql", "content": "CREATE TABLE a (i int);"},
        {"name": "002_b.sql", "content": "CREATE TABLE b (i int);"},
    ]
    st = run(client, "migrations.status", {"project": p, "name": "main", "files": files})
    assert st["pending"] == ["001_a.sql", "002_b.sql"]
    applied = run(client, "migrations.apply", {"project": p, "name": "main", "files": files})
    assert applied == {"database": "main", "applied": ["001_a.sql", "002_b.sql"], "pending": []}
    files[0]["content"] += " -- changed"
    assert run(client, "migrations.status", {"project": p, "name": "main", "files": files})["drifted"] == ["001_a.sql"]

    # Pooling: PgBouncer when installed, else a plain answer and the direct URL.
    answer = run(client, "databases.pool", {"project": p, "name": "main"})
    assert ":***@" in answer["url"]  # the answer reveals no password; `databases reveal` does
    urls = run(client, "databases.reveal", {"project": p, "name": "main"})
    if find_pgbouncer():
        assert answer["pooling"] == "PgBouncer" and ":***@" in answer["pooled_url"]
        with psycopg.connect(urls["pooled_url"]) as c:
            assert c.execute("SELECT count(*) FROM t").fetchone() == (100,)
        assert reveal(client, p, "DATABASE_URL_POOLED") == urls["pooled_url"]
        # The pooled variable follows DATABASE_URL: to an unpooled branch (none), and back.
        run(
            client,
            "databases.branch",
            {"project": p, "source": "main", "name": "hotfix", "env_var": "DATABASE_URL", "force": True},
        )
        with pytest.raises(NotFound):
            reveal(client, p, "DATABASE_URL_POOLED")
        run(client, "databases.delete", {"project": p, "name": "hotfix"})
        assert reveal(client, p, "DATABASE_URL_POOLED") == urls["pooled_url"]
        stats = run(client, "databases.pool_stats", {"project": p})
        assert stats["running"] and [s["database"] for s in stats["items"]] == ["main"]
        assert stats["items"][0]["total_transactions"] >= 1
        off = run(client, "databases.pool", {"project": p, "name": "main", "enabled": False})
        assert off["pooled_url"] is None and "not pooled" in off["pooling"]
        with pytest.raises(NotFound):
            reveal(client, p, "DATABASE_URL_POOLED")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(urls["pooled_url"])
    else:
        assert answer["pooled_url"] is None and "not installed" in answer["pooling"] and urls["url"] == url

    # Delete removes database, role and variable.
    run(client, "databases.delete", {"project": p, "name": "copy"})
    run(client, "databases.delete", {"project": p, "name": "main"})
    with pytest.raises(NotFound):
        reveal(client, p, "DATABASE_URL")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url)


def test_bad_input_and_faults(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    with pytest.raises(BadInput) as err:
        run(client, "databases.create", {"project": p, "name": "Bad Name"})
    assert err.value.errors[0].field == "name"
    run(client, "databases.create", {"project": p, "name": "dup"})
    try:
        with pytest.raises(Conflict, match="exists already"):
            run(client, "databases.create", {"project": p, "name": "dup"})
        # Long operations report their errors through the job.
        with pytest.raises(CodeForgeError, match="copy-on-write branches are not possible") as failed:
            run(client, "databases.branch", {"project": p, "source": "dup", "name": "x", "method": "copy-on-write"})
        assert "btrfs" in str(failed.value)
        with pytest.raises(CodeForgeError, match="has no database 'nosuch'"):
            run(client, "databases.branch", {"project": p, "source": "nosuch", "name": "x"})
        assert [d["name"] for d in run(client, "databases.list", {"project": p})["items"]] == ["dup"]
        # A variable that holds something else is not overwritten, and nothing is made.
        with pytest.raises(Conflict, match="already holds the URL of database 'dup'") as taken:
            run(client, "databases.create", {"project": p, "name": "second"})
        assert taken.value.errors[0].field == "env_var" and "SECOND_DATABASE_URL" in taken.value.fix
        run(client, "env.set", {"project": p, "name": "LEGACY_URL", "value": "postgresql://elsewhere/db"})
        with pytest.raises(Conflict, match="already set, and not by a database"):
            run(client, "databases.create", {"project": p, "name": "second", "env_var": "LEGACY_URL"})
        with pytest.raises(CodeForgeError, match="already set, and not by a database"):
            run(client, "databases.branch", {"project": p, "source": "dup", "name": "x", "env_var": "LEGACY_URL"})
        assert reveal(client, p, "LEGACY_URL") == "postgresql://elsewhere/db"
        assert [d["name"] for d in run(client, "databases.list", {"project": p})["items"]] == ["dup"]
        run(client, "databases.create", {"project": p, "name": "second", "env_var": "SECOND_DATABASE_URL"})
        # `databases.use` moves a variable between databases, never over a person's value.
        moved = run(client, "databases.use", {"project": p, "name": "second", "env_var": "DATABASE_URL"})
        assert moved["env_var"] == "DATABASE_URL" and reveal(client, p, "DATABASE_URL").endswith(
            "/" + moved["database"]
        )
        with pytest.raises(NotFound):  # a database has one variable: its old one went
            reveal(client, p, "SECOND_DATABASE_URL")
        with pytest.raises(Conflict, match="already set, and not by a database"):
            run(client, "databases.use", {"project": p, "name": "dup", "env_var": "LEGACY_URL"})
        with pytest.raises(NotFound, match="has no database 'nosuch'"):
            run(client, "databases.use", {"project": p, "name": "nosuch"})
        run(client, "databases.use", {"project": p, "name": "dup"})
        # A backup of a deleted database says plainly that it can no longer be used.
        orphan = run(client, "backups.create", {"project": p, "name": "second"})
        run(client, "databases.delete", {"project": p, "name": "second"})
        for op, body in (("backups.verify", {}), ("backups.restore", {"target": "again"})):
            with pytest.raises(CodeForgeError, match=r"'second'.* was deleted") as gone:
                run(client, op, {"project": p, "id": orphan["id"], **body})
            assert f"backups delete {orphan['id']}" in str(gone.value)
        run(client, "backups.delete", {"project": p, "id": orphan["id"]})
    finally:
        run(client, "databases.delete", {"project": p, "name": "dup"})
    # Unreachable engine, wrong admin credentials: clear errors, nothing registered.
    with pytest.raises(CodeForgeError, match="cannot reach PostgreSQL"):
        run(
            client,
            "engines.register",
            {
                "name": "gone",
                "kind": "postgresql",
                "admin_url": f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
            },
        )
    local = next(e for e in run(client, "engines.list", {})["items"] if e["kind"] == "postgresql-local")
    with pytest.raises(CodeForgeError, match="rejected the admin credentials") as err2:
        run(
            client,
            "engines.register",
            {
                "name": "wrong",
                "kind": "postgresql",
                "admin_url": f"postgresql://codeforge_admin:nope@127.0.0.1:{local['port']}/x",
            },
        )
    assert "nope" not in str(err2.value)
    with pytest.raises(BadInput, match="data_dir: must be an absolute path"):
        run(client, "engines.register", {"name": "baddir", "data_dir": "relative/dir"})
    for bad in ("/etc", "/usr/lib/x", "/"):
        with pytest.raises(CodeForgeError, match="data_dir is outside the folders this platform may use"):
            run(client, "engines.register", {"name": "baddir", "data_dir": bad})
    assert {e["name"] for e in run(client, "engines.list", {})["items"]} == {local["name"]}


def test_mysql_engine(client: PlatformClient, platform: RunningPlatform, mysql: Any) -> None:
    p = platform.project
    name = uniq("my").replace("_", "-")
    run(client, "engines.register", {"name": name, "kind": "mysql", "admin_url": EXTERNAL_MYSQL})
    try:
        shop = uniq("shop").replace("_", "-")
        db = run(client, "databases.create", {"project": p, "name": shop, "engine": name, "env_var": "MYSQL_URL"})
        assert db["kind"] == "mysql"
        url = reveal(client, p, "MYSQL_URL")
        user_pw, _host = url.split("://", 1)[1].split("@")
        user, pw = user_pw.split(":")
        with (
            pymysql.connect(
                host="127.0.0.1", port=3306, user=user, password=pw, database=db["database"], autocommit=True
            ) as c,
            c.cursor() as cur,
        ):
            cur.execute("CREATE TABLE t (i INT)")
            cur.execute("INSERT INTO t VALUES (1)")
        br = run(client, "databases.branch", {"project": p, "source": shop, "name": shop + "-dev"})
        assert br["method"] == "dump-load" and br["user"] == user
        backup = run(client, "backups.create", {"project": p, "name": shop + "-dev"})
        assert run(client, "backups.verify", {"project": p, "id": backup["id"]})["ok"]
        pooled = run(client, "databases.reveal", {"project": p, "name": shop})
        assert pooled["pooled_url"] is None
        with pytest.raises(BadInput, match="PgBouncer pools PostgreSQL only"):
            run(client, "databases.pool", {"project": p, "name": shop})
        run(client, "databases.delete", {"project": p, "name": shop, "cascade": True})
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(host="127.0.0.1", port=3306, user=user, password=pw)
    finally:
        run(client, "engines.remove", {"name": name})


def test_copy_on_write_branches_through_the_api(
    client: PlatformClient, platform: RunningPlatform, btrfs_dir: Path
) -> None:
    p = platform.project
    engine = run(client, "engines.register", {"name": "fast", "data_dir": str(btrfs_dir / "api")})
    assert engine["copy_on_write"] == "btrfs-snapshot"
    run(client, "databases.create", {"project": p, "name": "cow", "engine": "fast", "env_var": "COW_URL"})
    url = reveal(client, p, "COW_URL")
    with psycopg.connect(url) as c:
        c.execute("CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 10)")
        c.commit()
        # An open session does not block a copy-on-write branch (and its uncommitted work stays out).
        c.execute("INSERT INTO t VALUES (-99)")
        br = run(client, "databases.branch", {"project": p, "source": "cow", "name": "cow-b", "env_var": "COW_URL"})
    assert br["method"] == "btrfs-snapshot" and br["port"] != engine["port"]
    b_url = reveal(client, p, "COW_URL")
    with psycopg.connect(b_url) as c:
        c.execute("INSERT INTO t VALUES (0)")

    def values(u: str) -> set[int]:
        with psycopg.connect(u) as c:
            return {r[0] for r in c.execute("SELECT i FROM t WHERE i <= 0").fetchall()}

    # The branch has its own write, not the parent's session's later commit; and vice versa.
    assert values(b_url) == {0} and values(url) == {-99}
    grand = run(client, "databases.branch", {"project": p, "source": "cow-b", "name": "cow-c"})
    assert grand["method"] == "btrfs-snapshot"
    run(client, "databases.reset", {"project": p, "name": "cow-b"})
    assert values(b_url) == {-99}  # the parent as it is now
    run(client, "databases.delete", {"project": p, "name": "cow", "cascade": True})
    branches = next((btrfs_dir / "api").glob("*-fast")) / "branches"
    assert [p for p in branches.iterdir() if p.is_dir()] == []  # instances stopped and their snapshots gone
    run(client, "engines.remove", {"name": "fast"})
    assert not (btrfs_dir / "api").exists() or not any((btrfs_dir / "api").iterdir())


def test_scheduled_backups_with_retention(client: PlatformClient, platform: RunningPlatform) -> None:
    """The scheduler as the platform runs it, on the platform's own state and data dir."""
    from datetime import datetime, timedelta

    from codeforge.platform.crypto import Cipher
    from codeforge.platform.databases.backup_service import run_due_backups
    from codeforge.platform.db import Database
    from codeforge.platform.settings import Settings

    p = platform.project
    run(client, "databases.create", {"project": p, "name": "nightly", "env_var": "NIGHTLY_URL"})
    try:
        sched = run(
            client,
            "backups.schedule",
            {"project": p, "name": "nightly", "cron": "*/5 * * * *", "keep_last": 2, "max_age_days": 1},
        )
        settings = Settings(data_dir=platform.data_dir)
        db = Database(settings.resolved_database_url)
        cipher = Cipher(settings.fernet_key())
        when = datetime.fromisoformat(sched["next_run_at"].replace("Z", "+00:00"))
        assert run_due_backups(db, settings, cipher, now=when - timedelta(seconds=1)) == 0  # not due yet
        for k in range(3):
            now = when + timedelta(minutes=5 * k, seconds=1)
            assert run_due_backups(db, settings, cipher, now=now) == 1
            assert run_due_backups(db, settings, cipher, now=now) == 0  # claimed once only
        backups = run(client, "backups.list", {"project": p, "name": "nightly"})["items"]
        assert len(backups) == 2  # keep_last
        (info,) = run(client, "backups.schedules", {"project": p})["items"]
        assert info["last_error"] is None and info["last_run_at"] is not None
        # Age: two days on, every backup is past max_age_days (the new one is kept: it is not).
        assert run_due_backups(db, settings, cipher, now=when + timedelta(days=2)) == 1
        assert len(run(client, "backups.list", {"project": p, "name": "nightly"})["items"]) == 1
        db.dispose()
    finally:
        run(client, "databases.delete", {"project": p, "name": "nightly"})
    assert run(client, "backups.schedules", {"project": p})["items"] == []


def test_reflink_branches_on_xfs(client: PlatformClient, platform: RunningPlatform, xfs_dir: Path) -> None:
    p = platform.project
    engine = run(client, "engines.register", {"name": "xfs", "data_dir": str(xfs_dir / "api")})
    assert engine["copy_on_write"] == "reflink-copy"
    run(client, "databases.create", {"project": p, "name": "onxfs", "engine": "xfs", "env_var": "XFS_URL"})
    url = reveal(client, p, "XFS_URL")
    with psycopg.connect(url) as c:
        c.execute("CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 50)")
        c.commit()
        br = run(client, "databases.branch", {"project": p, "source": "onxfs", "name": "onxfs-b"})
        c.execute("INSERT INTO t VALUES (-1)")  # after the branch: the parent's only
    assert br["method"] == "reflink-copy"
    b_url = url.replace(f":{engine['port']}/", f":{br['port']}/")
    with psycopg.connect(b_url) as c:
        c.execute("DELETE FROM t WHERE i > 10")
    assert count(b_url) == 10 and count(url) == 51
    run(client, "databases.reset", {"project": p, "name": "onxfs-b"})
    assert count(b_url) == 51
    run(client, "databases.delete", {"project": p, "name": "onxfs", "cascade": True})
    run(client, "engines.remove", {"name": "xfs"})


def test_backup_scheduler_thread(client: PlatformClient, platform: RunningPlatform) -> None:
    import time
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from codeforge.platform.crypto import Cipher
    from codeforge.platform.databases.backup_service import BackupScheduler
    from codeforge.platform.databases.models import BackupScheduleRow
    from codeforge.platform.db import Database
    from codeforge.platform.settings import Settings

    p = platform.project
    run(client, "databases.create", {"project": p, "name": "ticked", "env_var": "TICKED_URL"})
    try:
        run(client, "backups.schedule", {"project": p, "name": "ticked", "cron": "0 0 1 1 *"})
        settings = Settings(data_dir=platform.data_dir)
        db = Database(settings.resolved_database_url)
        with db.session() as s:  # make it due now
            s.execute(update(BackupScheduleRow).values(next_run_at=datetime.now(UTC) - timedelta(minutes=1)))
        scheduler = BackupScheduler(db, settings, Cipher(settings.fernet_key()), interval=0.05)
        scheduler.start()
        try:
            deadline = time.monotonic() + 60
            while not run(client, "backups.list", {"project": p, "name": "ticked"})["items"]:
                assert time.monotonic() < deadline, "the scheduler never ran the due backup"
                time.sleep(0.1)
        finally:
            scheduler.stop()
        (info,) = run(client, "backups.schedules", {"project": p})["items"]
        assert info["next_run_at"].startswith(f"{datetime.now(UTC).year + 1}-01-01")
        db.dispose()
    finally:
        run(client, "databases.delete", {"project": p, "name": "ticked"})
