"""What the platform does by itself, tried from outside (issue #8): a killed reset is
repaired, never left as a row without data; a partial copy that commits after a restart is
swept; servers that stop outside the platform are restarted and the restart recorded; the
PgBouncer a platform started is adopted by the next one; concurrent backups do not delete
each other's files. Waits are on the awaited state, never on time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, update

from codeforge.client import PlatformClient
from codeforge.platform.crypto import Cipher
from codeforge.platform.databases.backups import BackupStore
from codeforge.platform.databases.engines.cluster import LocalCluster
from codeforge.platform.databases.engines.common import Connection
from codeforge.platform.databases.engines.postgres import PostgresEngine
from codeforge.platform.databases.models import DatabaseRow, EngineRow
from codeforge.platform.databases.pooling import PgBouncer, find_pgbouncer
from codeforge.platform.db import Database
from codeforge.platform.settings import Settings
from tests.conftest import RunningPlatform, require
from tests.platform.databases.conftest import platform_in, uniq
from tests.platform.databases.test_api import count, reveal, run


@pytest.fixture
def platform(work_dir: Path) -> Iterator[RunningPlatform]:
    """A platform of its own per test: these kill and restart it."""
    with platform_in(work_dir) as running:
        yield running


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    """Until `check()` answers something true (an error counts as not yet)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except Exception as exc:  # e.g. a server that is not up yet
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what} (last error: {last})")


def events(client: PlatformClient, operation: str) -> list[dict[str, Any]]:
    return [e for e in run(client, "audit.list", {"actor": "codeforge", "operation": operation})["items"]]


def state(platform: RunningPlatform) -> tuple[Database, Cipher]:
    settings = Settings(data_dir=platform.data_dir)
    return Database(settings.resolved_database_url), Cipher(settings.fernet_key())


# -- item: kill -9 during `databases reset` of a btrfs branch --------------------------------------

_RESET_KILLER = textwrap.dedent("""
    import os, signal
    from pathlib import Path
    from codeforge.platform.databases.engines import branching, cluster, cow
    stage = os.environ["STAGE"]
    parent = cluster.LocalCluster(Path(os.environ["PARENT"]), port=int(os.environ["PARENT_PORT"]),
                                  password=os.environ["PW"])
    branch = cluster.LocalCluster(Path(os.environ["BRANCH"]), port=int(os.environ["BRANCH_PORT"]),
                                  password=os.environ["PW"], settings=cluster.BRANCH_SETTINGS)
    def die():
        os.kill(os.getpid(), signal.SIGKILL)
    delete_tree, start = cow.delete_tree, cluster.LocalCluster.start
    def deleting(path):
        if stage == "stopped":
            die()
        delete_tree(path)
        if stage == "deleted":
            die()
    def starting(self, **kw):
        if stage == "copied":
            die()
        start(self, **kw)
        die()  # "started": the marker is still there
    cow.delete_tree = deleting
    branching.cow.delete_tree = deleting
    cluster.LocalCluster.start = starting
    branching.reset_instance(parent, branch, database=os.environ["DB"], role=os.environ["ROLE"])
""")


def test_reset_killed_at_any_point_is_repaired(platform: RunningPlatform, btrfs_dir: Path) -> None:
    """A platform killed during `databases reset` of a btrfs branch left a ghost: listed
    ready, "size unknown", its URL refused, a second reset failing with FileNotFoundError."""
    p = platform.project
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        run(client, "engines.register", {"name": "rs", "data_dir": str(btrfs_dir / uniq("rs"))})
        run(client, "databases.create", {"project": p, "name": "main", "engine": "rs", "env_var": "MAIN_URL"})
        with psycopg.connect(reveal(client, p, "MAIN_URL")) as c:
            c.execute("CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 10)")
        run(client, "databases.branch", {"project": p, "source": "main", "name": "b", "env_var": "B_URL"})
        b_url = reveal(client, p, "B_URL")
    db, cipher = state(platform)
    with db.session() as s:
        engine = s.scalars(select(EngineRow)).one()
        rows = {r.name: r for r in s.scalars(select(DatabaseRow))}
        password = cipher.decrypt(engine.admin_secret_encrypted)
    db.dispose()
    main, branch = rows["main"], rows["b"]
    for stage in ("stopped", "deleted", "copied", "started"):
        with psycopg.connect(b_url) as c:
            c.execute("INSERT INTO t VALUES (-1)")  # a change the reset throws away
        platform.kill()
        env = {
            **os.environ,
            "STAGE": stage,
            "PARENT": engine.root,
            "PARENT_PORT": str(engine.port),
            "BRANCH": branch.instance_dir,
            "BRANCH_PORT": str(branch.port),
            "PW": password,
            "DB": main.physical,
            "ROLE": main.role,
        }
        proc = subprocess.run([sys.executable, "-c", _RESET_KILLER], env=env, capture_output=True, text=True)
        assert proc.returncode == -9, proc.stderr
        assert (Path(branch.instance_dir) / ".codeforge-incomplete").exists()
        platform.start()
        with PlatformClient(platform.url, platform.token, timeout=120) as client:
            # Repaired: a fresh copy of its parent, on its port, with its data; never deleted.
            wait_for(f"branch b repaired after a kill at {stage!r}", lambda: count(b_url) == 10)
            listed = {d["name"]: d for d in run(client, "databases.list", {"project": p})["items"]}
            assert listed["b"]["state"] == "ready" and listed["b"]["size_bytes"]
            assert any(e["target"] == "b" and "restored" in e["outcome"] for e in events(client, "databases.repair"))
            run(client, "databases.reset", {"project": p, "name": "b"})  # and it resets again
            assert count(b_url) == 10
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        run(client, "databases.delete", {"project": p, "name": "main", "cascade": True})
        run(client, "engines.remove", {"name": "rs"})


# -- item: a TEMPLATE copy that commits after the sweep --------------------------------------------


def test_partial_copy_found_later_is_swept_but_one_in_progress_is_not(
    platform: RunningPlatform, external_pg: PostgresEngine
) -> None:
    """A killed platform's CREATE DATABASE … TEMPLATE commits after the restarted process's
    one sweep ran, and stayed until the next restart."""
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        name = uniq("pg").replace("_", "-")
        run(client, "engines.register", {"name": name, "kind": "postgresql", "admin_url": str(external_pg.admin_url)})
        try:
            late, busy = f"cfpartial_{uniq('late')}", f"cfpartial_{uniq('busy')}"
            with external_pg.admin() as conn, external_pg.admin() as maker:
                # One being made by a live operation: its maker holds the name's advisory lock.
                maker.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (busy,))
                conn.execute(f'CREATE DATABASE "{busy}"')
                # One whose maker is gone, committed long after the platform started.
                conn.execute(f'CREATE DATABASE "{late}"')
                names = lambda: {d.name for d in external_pg.list_databases()}  # noqa: E731
                wait_for("the late partial copy swept", lambda: late not in names())
                assert busy in names()  # seen by the same pass, and left alone
                assert any(late in e["target"] for e in events(client, "databases.sweep"))
            wait_for("the partial copy swept once its maker is gone", lambda: busy not in names())
        finally:
            run(client, "engines.remove", {"name": name})


# -- item: servers that stop outside the platform ---------------------------------------------------


def test_servers_that_stop_are_restarted_and_recorded(platform: RunningPlatform, btrfs_dir: Path) -> None:
    p = platform.project
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        run(client, "engines.register", {"name": "sv", "data_dir": str(btrfs_dir / uniq("sv"))})
        run(client, "databases.create", {"project": p, "name": "svc", "engine": "sv", "env_var": "SVC_URL"})
        with psycopg.connect(reveal(client, p, "SVC_URL")) as c:
            c.execute("CREATE TABLE t (i int); INSERT INTO t VALUES (1)")
        run(client, "databases.branch", {"project": p, "source": "svc", "name": "svc-b", "env_var": "SVCB_URL"})
        url, b_url = reveal(client, p, "SVC_URL"), reveal(client, p, "SVCB_URL")
        db, _ = state(platform)
        with db.session() as s:
            engine = s.scalars(select(EngineRow).where(EngineRow.name == "sv")).one()
            branch = s.scalars(select(DatabaseRow).where(DatabaseRow.name == "svc-b")).one()
        db.dispose()
        for root, target, check_url in (
            (Path(engine.root), "engine sv", url),
            (Path(branch.instance_dir), "svc-b", b_url),
        ):
            server = LocalCluster(root, port=0, password="")
            pid = server._pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # as the OOM killer does
            wait_for(f"{target} restarted", lambda u=check_url: count(u) == 1)  # type: ignore[misc]
            assert server._pid() not in (None, pid)
            # The supervisor records the restart once the server answers again: reachable
            # first, recorded a moment later (read at once, the record was sometimes not there).
            wait_for(
                f"{target}'s restart in the audit log",
                lambda t=target: any(  # type: ignore[misc]
                    e["target"] == t and "restarted" in e["outcome"] for e in events(client, "databases.restart")
                ),
            )
        run(client, "databases.delete", {"project": p, "name": "svc", "cascade": True})
        run(client, "engines.remove", {"name": "sv"})


# -- item: PgBouncer outlives `codeforge serve` ----------------------------------------------------


def test_pgbouncer_is_adopted_by_the_next_platform(platform: RunningPlatform) -> None:
    """The platform's PgBouncer kept running, unmanaged, after `codeforge serve` stopped. It
    is adopted: the next platform process supervises it (restarts it when it stops) and stops
    it when no database is pooled any more."""
    require("pgbouncer", find_pgbouncer() is not None, "pgbouncer is not installed (apt-get install pgbouncer)")
    p = platform.project
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        run(client, "databases.create", {"project": p, "name": "pooled", "env_var": "POOLED_URL"})
        with psycopg.connect(reveal(client, p, "POOLED_URL")) as c:
            c.execute("CREATE TABLE t (i int); INSERT INTO t VALUES (1)")
        run(client, "databases.pool", {"project": p, "name": "pooled"})
        pooled_url = reveal(client, p, "POOLED_URL_POOLED")
    pb = PgBouncer(platform.data_dir / "databases" / "pgbouncer", port=0, admin_password="")
    first = pb._pid()
    assert first is not None and count(pooled_url) == 1
    for stop in (platform.stop, platform.kill):  # SIGTERM, then SIGKILL
        stop()
        assert pb._pid() == first and count(pooled_url) == 1  # apps keep their pool meanwhile
        platform.start()
        with PlatformClient(platform.url, platform.token, timeout=120) as client:
            # Adopted: the new process restarts it when it stops.
            os.kill(first, signal.SIGKILL)
            old = first
            first = wait_for(
                "PgBouncer restarted by the new platform", lambda old=old: pb._pid() not in (None, old) and pb._pid()
            )  # type: ignore[misc]
            assert count(pooled_url) == 1
            # The audit record is written once the restart is done: after the new pid shows.
            wait_for(
                "the restart in the audit log",
                lambda client=client: any(e["target"] == "PgBouncer" for e in events(client, "databases.restart")),
            )
    # Killed again, and its state says nothing is pooled any more: the next one stops it.
    platform.kill()
    db, _ = state(platform)
    with db.session() as s:
        s.execute(update(DatabaseRow).values(pooled=False))
    db.dispose()
    platform.start()
    wait_for("the idle PgBouncer stopped", lambda: pb._pid() is None)
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        run(client, "databases.delete", {"project": p, "name": "pooled"})


# -- item: concurrent backups -----------------------------------------------------------------------


class _Paused:
    """A real pg_dump that stops, its archive still `.partial`, until told to go on."""

    def __init__(self, engine: PostgresEngine) -> None:
        self.engine, self.kind = engine, engine.kind
        self.dumped, self.go = threading.Event(), threading.Event()

    def dump(self, database: str, path: Path) -> None:
        self.engine.dump(database, path)
        self.dumped.set()
        assert self.go.wait(60)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


def test_concurrent_backups_keep_each_others_files(external_pg: PostgresEngine, tmp_path: Path) -> None:
    """Each backup first deleted every `*.partial` file under the whole backup root, so a
    second backup killed a running one, whose error then said to free disk space."""
    conns: list[Connection] = [external_pg.create_database(uniq("bk")) for _ in range(2)]
    try:
        store = BackupStore(tmp_path / "backups")
        paused = _Paused(external_pg)
        outcome: dict[str, Any] = {}

        def first() -> None:
            try:
                outcome["made"] = store.create(paused, conns[0].database, key=f"org-a/{conns[0].database}")
            except Exception as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=first)
        thread.start()
        assert paused.dumped.wait(60)
        # Meanwhile: another backup of the same database, one of another organization's, and
        # the supervisor's sweep of the whole root.
        for key, conn in ((f"org-a/{conns[0].database}", conns[0]), (f"org-b/{conns[1].database}", conns[1])):
            store.sweep(key)
            store.create(external_pg, conn.database, key=key)
        store.sweep()
        paused.go.set()
        thread.join(60)
        assert "error" not in outcome, outcome.get("error")
        assert len(store.list(f"org-a/{conns[0].database}")) == 2
        assert len(store.list(f"org-b/{conns[1].database}")) == 1
        assert not list((tmp_path / "backups").rglob("*.partial"))
    finally:
        for conn in conns:
            external_pg.drop_database(conn.database, conn.user, missing_ok=True)
