"""A new user on ext4 always got full TEMPLATE copies and was never told how to get
copy-on-write branches: `codeforge up`'s banner, `engines list` and a branch's result say
it, and `python -m codeforge.platform.databases.volume` moves the embedded engine onto a
btrfs volume."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

from codeforge.client import PlatformClient
from codeforge.platform.databases.engines import cow
from codeforge.platform.databases.engines.cluster import LocalCluster, free_port
from codeforge.platform.databases.volume import copy_on_write_advice, engines_dir
from tests.conftest import RunningPlatform, require
from tests.platform.databases.conftest import uniq
from tests.platform.databases.test_api import run

_PLAIN = Path("/var/tmp")


def _plain() -> bool:
    return cow.filesystem_of(_PLAIN) != "btrfs" and not cow.supports_reflink(_PLAIN)


def test_advice_where_branches_are_full_copies(btrfs_dir: Path) -> None:
    require("plain-filesystem", _plain(), f"{_PLAIN} supports copy-on-write here")
    advice = copy_on_write_advice(_PLAIN / uniq("data"))
    assert advice is not None and "template-copy" in advice
    assert "-m codeforge.platform.databases.volume --data-dir" in advice
    assert copy_on_write_advice(btrfs_dir / "data") is None  # nothing to say on btrfs


def test_engines_list_and_branch_results_say_how(platform: RunningPlatform) -> None:
    require("plain-filesystem", _plain(), f"{_PLAIN} supports copy-on-write here")
    p = platform.project
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        run(client, "databases.create", {"project": p, "name": "adv", "env_var": "ADV_URL"})
        try:
            (engine,) = [e for e in run(client, "engines.list", {})["items"] if e["kind"] == "postgresql-local"]
            assert engine["copy_on_write"] is None and "copy-on-write" in engine["advice"]
            branch = run(client, "databases.branch", {"project": p, "source": "adv", "name": "adv-b"})
            assert branch["method"] == "template-copy" and "databases.volume" in branch["advice"]
        finally:
            run(client, "databases.delete", {"project": p, "name": "adv", "cascade": True})


def test_volume_moves_the_embedded_engine_onto_btrfs(work_dir: Path) -> None:
    require(
        "btrfs",
        os.geteuid() == 0 and bool(shutil.which("mkfs.btrfs")) and _plain(),
        "needs root, mkfs.btrfs and an ext4 /var/tmp",
    )
    data_dir = work_dir / uniq("vol")
    root = engines_dir(data_dir) / "org-local"
    cluster = LocalCluster(root, port=free_port(), password=secrets.token_urlsafe(12))
    cluster.init(sync=False)
    cluster.start()
    conn = cluster.engine().create_database(uniq("kept"))
    with psycopg.connect(conn.url) as c:
        c.execute("CREATE TABLE t (i int); INSERT INTO t VALUES (42)")
    assert cluster.status().copy_on_write is None
    proc = subprocess.run(
        [sys.executable, "-m", "codeforge.platform.databases.volume", "--data-dir", str(data_dir), "--size", "1G"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        assert proc.returncode == 0, proc.stderr
        assert cow.filesystem_of(engines_dir(data_dir)) == "btrfs" and "fstab" in proc.stdout
        assert copy_on_write_advice(data_dir) is None
        moved = LocalCluster(root, port=cluster.port, password=cluster.password)
        assert cow.is_subvolume(moved.data) and moved.status().copy_on_write == "btrfs-snapshot"
        moved.start()  # as the platform does on first use
        with psycopg.connect(conn.url) as c:
            assert c.execute("SELECT i FROM t").fetchone() == (42,)
        moved.stop()
    finally:
        LocalCluster(root, port=0, password="").stop(mode="immediate")
        subprocess.run(["umount", str(engines_dir(data_dir))], capture_output=True)
        shutil.rmtree(data_dir, ignore_errors=True)
