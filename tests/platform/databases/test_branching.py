"""Copy-on-write branches of a CodeForge-run cluster on a btrfs loop mount."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from codeforge.catalog.errors import Conflict
from codeforge.platform.databases.engines import branching, cow
from codeforge.platform.databases.engines.cluster import LocalCluster
from codeforge.platform.databases.engines.common import BranchMethod, Connection
from tests.conftest import require
from tests.platform.databases.conftest import uniq


def _count(conn: Connection, port: int | None = None) -> int:
    with psycopg.connect(
        host=conn.host, port=port or conn.port, dbname=conn.database, user=conn.user, password=conn.password
    ) as c:
        row = c.execute("SELECT count(*) FROM t").fetchone()
    assert row is not None
    return int(row[0])


def _insert(conn: Connection, port: int, value: int) -> None:
    with psycopg.connect(host=conn.host, port=port, dbname=conn.database, user=conn.user, password=conn.password) as c:
        c.execute("INSERT INTO t VALUES (%s)", (value,))


@pytest.fixture
def source(btrfs_cluster: LocalCluster) -> Connection:
    engine = btrfs_cluster.engine()
    conn = engine.create_database(uniq("app"))
    with psycopg.connect(conn.url) as c:
        c.execute("CREATE TABLE t (i int)")
        c.execute("INSERT INTO t SELECT generate_series(1, 1000)")
    return conn


@pytest.mark.parametrize("method", [BranchMethod.SNAPSHOT, BranchMethod.REFLINK])
def test_branch_is_isolated_and_immediately_usable(
    btrfs_cluster: LocalCluster, btrfs_dir: Path, source: Connection, method: BranchMethod
) -> None:
    assert btrfs_cluster.status().copy_on_write == BranchMethod.SNAPSHOT.value
    # An open session on the parent does not stop a copy-on-write branch.
    with psycopg.connect(source.url) as held:
        held.execute("SELECT 1")
        a = branching.branch_instance(
            btrfs_cluster, btrfs_dir / uniq("a"), database=source.database, role=source.user, method=method
        )
    b = branching.branch_instance(
        btrfs_cluster, btrfs_dir / uniq("b"), database=source.database, role=source.user, method=method
    )
    try:
        assert a.method is method and a.cluster.port != btrfs_cluster.port
        assert _count(source, a.cluster.port) == 1000
        _insert(source, a.cluster.port, -1)
        assert _count(source, a.cluster.port) == 1001
        assert _count(source) == 1000  # not in the parent
        assert _count(source, b.cluster.port) == 1000  # nor in a sibling
        _insert(source, btrfs_cluster.port, -2)
        assert _count(source, a.cluster.port) == 1001  # parent writes do not reach the branch
        # Only the branched database's role gets into the branch instance.
        other = btrfs_cluster.engine().create_database(uniq("other"))
        try:
            c = branching.branch_instance(
                btrfs_cluster, btrfs_dir / uniq("c"), database=source.database, role=source.user, method=method
            )
            try:
                with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
                    psycopg.connect(
                        host=other.host,
                        port=c.cluster.port,
                        dbname=other.database,
                        user=other.user,
                        password=other.password,
                    )
            finally:
                c.cluster.destroy()
        finally:
            btrfs_cluster.engine().drop_database(other.database, other.user)
    finally:
        a.cluster.destroy()
        b.cluster.destroy()
    assert not a.cluster.root.exists() and not b.cluster.root.exists()


def test_reset_branch_of_branch_and_delete(btrfs_cluster: LocalCluster, btrfs_dir: Path, source: Connection) -> None:
    a = branching.branch_instance(btrfs_cluster, btrfs_dir / uniq("a"), database=source.database, role=source.user)
    assert a.method is BranchMethod.SNAPSHOT
    try:
        _insert(source, a.cluster.port, -1)
        child = branching.branch_instance(
            a.cluster, btrfs_dir / uniq("child"), database=source.database, role=source.user
        )
        try:
            assert _count(source, child.cluster.port) == 1001  # a branch of the branch sees its writes
        finally:
            child.cluster.destroy()
        port = a.cluster.port
        reset = branching.reset_instance(btrfs_cluster, a.cluster, database=source.database, role=source.user)
        assert reset.cluster.port == port
        assert _count(source, port) == 1000  # back to the parent's state
        with pytest.raises(Conflict):
            branching.branch_instance(btrfs_cluster, a.cluster.root, database=source.database, role=source.user)
    finally:
        a.cluster.destroy()


def _plain_dir() -> Path | None:
    """A writable folder on a filesystem without snapshots or reflinks (tmpfs, ext4)."""
    for base in (Path("/dev/shm"), Path("/var/tmp"), Path("/tmp")):
        if (
            base.is_dir()
            and os.access(base, os.W_OK)
            and cow.filesystem_of(base) != "btrfs"
            and not cow.supports_reflink(base)
        ):
            return base
    return None


def test_branch_falls_back_cleanly_without_cow(work_dir: Path) -> None:
    base = _plain_dir()
    require("plain-filesystem", base is not None, "no folder on a filesystem without reflinks (tmpfs, ext4)")
    assert base is not None
    # The data directory of a cluster on that filesystem: branching it copy-on-write is refused
    # before anything is made, with what to do instead.
    root = base / uniq("nocow")
    (root / "data").mkdir(parents=True)
    try:
        parent = LocalCluster(root, port=0, password="")
        assert cow.clone_method(parent.data) is None
        with pytest.raises(Exception, match=r"not on a filesystem with snapshots or reflinks") as err:
            branching.branch_instance(parent, work_dir / uniq("x"), database="postgres", role="x")
        assert "TEMPLATE" in str(err.value)
    finally:
        shutil.rmtree(root, ignore_errors=True)


_KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from codeforge.platform.databases.engines import branching, cluster
    stage = os.environ["STAGE"]
    parent = cluster.LocalCluster(Path(os.environ["PARENT"]), port=int(os.environ["PORT"]),
                                  password=os.environ["PW"])
    original = cluster.LocalCluster.start
    def start(self, **kw):
        if stage == "after-start":
            original(self, **kw)
        os.kill(os.getpid(), signal.SIGKILL)
    cluster.LocalCluster.start = start
    branching.branch_instance(parent, Path(os.environ["ROOT"]), database="postgres", role="x")
""")


@pytest.mark.parametrize("stage", ["before-start", "after-start"])
def test_process_killed_mid_branch_leaves_nothing_after_sweep(
    btrfs_cluster: LocalCluster, btrfs_dir: Path, stage: str
) -> None:
    branches = btrfs_dir / uniq("branches")
    branches.mkdir()
    root = branches / "doomed"
    env = {
        **os.environ,
        "STAGE": stage,
        "PARENT": str(btrfs_cluster.root),
        "PORT": str(btrfs_cluster.port),
        "PW": btrfs_cluster.password,
        "ROOT": str(root),
    }
    proc = subprocess.run([sys.executable, "-c", _KILLER], env=env, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert (root / branching.INCOMPLETE).exists()
    leftover = LocalCluster(root, port=0, password="")
    assert leftover.status().running == (stage == "after-start")
    # A finished branch the platform knows about is kept; the interrupted one goes.
    kept = branching.branch_instance(btrfs_cluster, branches / "kept", database="postgres", role="x")
    try:
        swept = branching.sweep(branches, known={"kept", "doomed"}, ready={"kept"})
        assert swept.removed == ["doomed"] and swept.to_repair == []
        assert not root.exists() and leftover._pid() is None
        assert kept.cluster.status().running
        assert branching.sweep(branches, known=set()).removed == ["kept"]  # unknown to the platform: removed
        assert not kept.cluster.root.exists()
    finally:
        kept.cluster.destroy()
