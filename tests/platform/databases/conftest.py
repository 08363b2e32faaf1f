"""Real database servers for the database tests: a CodeForge-run PostgreSQL cluster (password
auth), this machine's PostgreSQL 15 and MariaDB, and a btrfs loop mount for copy-on-write."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from codeforge.platform.databases.engines import cow
from codeforge.platform.databases.engines.cluster import LocalCluster, free_port
from codeforge.platform.databases.engines.common import pg_bin_dir
from codeforge.platform.databases.engines.mysql import MySQLEngine
from codeforge.platform.databases.engines.postgres import PostgresEngine
from tests.conftest import RunningPlatform, require, start_platform

HERE = Path(__file__).parent
EXTERNAL_PG = os.environ.get("CODEFORGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
EXTERNAL_MYSQL = os.environ.get("CODEFORGE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306")
BTRFS_MOUNT = Path(os.environ.get("CODEFORGE_TEST_BTRFS", "/var/tmp/codeforge-btrfs"))
XFS_MOUNT = Path(os.environ.get("CODEFORGE_TEST_XFS", "/var/tmp/codeforge-xfs"))
# Test platforms may keep engines' data on the test filesystems, and check often that their
# database servers run (a supervised restart is awaited, not slept for).
PLATFORM_ENV = {
    "CODEFORGE_STORAGE_ROOTS": os.pathsep.join(["/var/tmp", str(BTRFS_MOUNT), str(XFS_MOUNT)]),
    "CODEFORGE_DATABASES_SUPERVISE_INTERVAL": "0.2",
}


def uniq(prefix: str = "t") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _pg_binaries() -> bool:
    try:
        pg_bin_dir()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def work_dir() -> Iterator[Path]:
    """A directory the database servers' OS user can reach (pytest's tmp dirs are root-only)."""
    base = Path("/var/tmp") if os.access("/var/tmp", os.W_OK) else Path("/tmp")
    path = base / f"codeforge-dbtest-{secrets.token_hex(4)}"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    yield path
    stop_servers_under(path)
    shutil.rmtree(path, ignore_errors=True)


def stop_servers_under(path: Path) -> None:
    """Clusters and PgBouncer outlive the process that started them by design: tests stop
    theirs before deleting their directories."""
    from codeforge.platform.databases.pooling import PgBouncer

    for pid in path.rglob("postmaster.pid"):
        LocalCluster(pid.parent.parent, port=0, password="").stop(mode="immediate")
    for ini in path.rglob("pgbouncer.ini"):
        PgBouncer(ini.parent, port=0, admin_password="").stop()


@contextmanager
def platform_in(work_dir: Path) -> Iterator[RunningPlatform]:
    """A `codeforge serve` whose own PostgreSQL clusters run as the unprivileged OS user.

    Its data dir is under `work_dir`, not pytest's temporary directory: pytest resets that
    directory's mode whenever a pytest session starts, which clears the access-list entry that
    lets the clusters' user reach their data, and they stop with "Permission denied"."""
    base = work_dir / uniq("platform")
    running = start_platform(base, **PLATFORM_ENV)
    try:
        yield running
    finally:
        running.stop()
        stop_servers_under(base)


@pytest.fixture(scope="module")
def platform(work_dir: Path) -> Iterator[RunningPlatform]:
    with platform_in(work_dir) as running:
        yield running


def _start_cluster(root: Path) -> LocalCluster:
    require("postgres-binaries", _pg_binaries(), "no PostgreSQL binaries (pip install pgserver)")
    cluster = LocalCluster(root, port=free_port(), password=secrets.token_urlsafe(16))
    cluster.init(sync=False)
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def local_cluster(work_dir: Path) -> Iterator[LocalCluster]:
    """A CodeForge-run cluster with SCRAM password authentication, on an ordinary filesystem."""
    cluster = _start_cluster(work_dir / "cluster")
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def local_pg(local_cluster: LocalCluster) -> PostgresEngine:
    return local_cluster.engine()


@pytest.fixture(scope="session")
def external_pg() -> PostgresEngine:
    engine = PostgresEngine(EXTERNAL_PG)
    require("postgresql", reachable(engine.host, engine.port), f"no PostgreSQL at {engine.where}")
    return engine


@pytest.fixture(scope="session")
def mysql() -> MySQLEngine:
    engine = MySQLEngine(EXTERNAL_MYSQL)
    require("mariadb", reachable(engine.host, engine.port), f"no MySQL/MariaDB at {engine.where}")
    require(
        "mariadb-client",
        bool(shutil.which("mariadb-dump") or shutil.which("mysqldump")),
        "mariadb-dump is not installed (apt-get install mariadb-client)",
    )
    return engine


@pytest.fixture(params=["local", "external"])
def pg(request: pytest.FixtureRequest) -> PostgresEngine:
    """Each PostgreSQL test runs on the CodeForge cluster and on the external server."""
    name = "local_pg" if request.param == "local" else "external_pg"
    engine: PostgresEngine = request.getfixturevalue(name)
    return engine


def _mounted(path: Path, fstype: str) -> bool:
    if cow.filesystem_of(path) == fstype:
        return True
    if os.geteuid() == 0:  # idempotent: makes whichever loop mounts are missing
        subprocess.run(["sh", str(HERE / "setup.sh")], capture_output=True, timeout=600)
    return cow.filesystem_of(path) == fstype


def _btrfs_ready() -> bool:
    return _mounted(BTRFS_MOUNT, "btrfs") and bool(shutil.which("btrfs"))


@pytest.fixture(scope="session")
def btrfs_dir() -> Iterator[Path]:
    """A fresh directory on a btrfs filesystem (a loop mount made by setup.sh)."""
    require("btrfs", _btrfs_ready(), f"no btrfs at {BTRFS_MOUNT}: run tests/platform/databases/setup.sh as root")
    path = BTRFS_MOUNT / f"test-{secrets.token_hex(4)}"
    path.mkdir(mode=0o755)
    yield path
    stop_servers_under(path)
    cow.delete_tree(path)


@pytest.fixture(scope="session")
def xfs_dir() -> Iterator[Path]:
    """A fresh directory on XFS made with reflink=1 (a loop mount made by setup.sh)."""
    require(
        "xfs",
        _mounted(XFS_MOUNT, "xfs") and cow.supports_reflink(XFS_MOUNT),
        f"no XFS with reflinks at {XFS_MOUNT}: run tests/platform/databases/setup.sh as root",
    )
    path = XFS_MOUNT / f"test-{secrets.token_hex(4)}"
    path.mkdir(mode=0o755)
    yield path
    stop_servers_under(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def btrfs_cluster(btrfs_dir: Path) -> Iterator[LocalCluster]:
    cluster = _start_cluster(btrfs_dir / "cluster")
    assert cow.is_subvolume(cluster.data), "the data dir on btrfs must be a subvolume"
    yield cluster
    cluster.destroy()
