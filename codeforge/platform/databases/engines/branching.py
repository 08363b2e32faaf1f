"""Copy-on-write branches of a CodeForge-run PostgreSQL cluster.

A branch is a second postmaster on a copy-on-write copy of its parent's data directory, on
a port of its own: a btrfs snapshot of the data directory's subvolume (atomic, so the copy
is exactly what a crash at that instant would leave, and PostgreSQL recovers it as after a
crash), or a reflink clone taken between pg_backup_start/pg_backup_stop (XFS, or btrfs
where the data directory is not a subvolume). Either costs the same at 10 MB or 1 TB.

The branch instance lets in only the admin and the branched database's role, to that
database: the other databases the copy holds stay unreachable.

While a branch is being made or reset, its directory holds a marker file and the operation
holds the directory's lock (`instance_lock`, an flock the kernel releases when the process
dies). A marker whose lock is free was left by a killed process: `sweep` removes such a
directory when the platform has no ready branch for it (or does not know it at all), and
reports it for repair when it does (a reset killed half-way: the platform makes it a fresh
copy of its parent again), so no row is left without its data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from codeforge.catalog.errors import Conflict, ExternalFailure
from codeforge.platform.databases.engines import cow
from codeforge.platform.databases.engines.cluster import BRANCH_SETTINGS, LocalCluster, free_port
from codeforge.platform.databases.engines.common import BranchMethod, file_lock, os_user

__all__ = [
    "INCOMPLETE",
    "BranchInstance",
    "Busy",
    "Swept",
    "branch_instance",
    "instance_lock",
    "remove_instance",
    "repair_instance",
    "reset_instance",
    "sweep",
]

INCOMPLETE = ".codeforge-incomplete"
# Files of the live postmaster that must not reach the copy: the copy would think its
# parent's postmaster is its own and refuse to start.
_RUNTIME_FILES = ("postmaster.pid", "postmaster.opts")

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class BranchInstance:
    method: BranchMethod
    cluster: LocalCluster
    seconds: float


def _noop(_f: float, _m: str) -> None:
    pass


class Busy(Exception):
    """Another operation holds the instance's lock."""


@contextmanager
def instance_lock(root: Path, *, wait: bool = True) -> Iterator[None]:
    """Exclusive use of the server directory `root` (a branch instance or a cluster) while
    it is made, reset, restarted or deleted: an flock on `.<name>.lock` beside it, released
    by the kernel when the holder dies. `wait=False` (the supervisor's try) raises `Busy`
    instead of waiting, and also when the folder holding `root` is gone (being deleted: no
    lock file may appear in it)."""
    if wait:
        root.parent.mkdir(parents=True, exist_ok=True)
    elif not root.parent.is_dir():
        raise Busy(str(root))
    with file_lock(root.parent / f".{root.name}.lock", wait=wait) as held:
        if not held:
            raise Busy(str(root))
        yield


def _drop_lock_file(root: Path) -> None:
    (root.parent / f".{root.name}.lock").unlink(missing_ok=True)


def remove_instance(root: Path) -> None:
    """Stop a server directory's postmaster and delete the directory, and its lock file."""
    with instance_lock(root):
        LocalCluster(root, port=0, password="").destroy()
    _drop_lock_file(root)


def branch_instance(
    parent: LocalCluster,
    root: Path,
    *,
    database: str,
    role: str,
    port: int | None = None,
    method: BranchMethod | None = None,
    progress: Progress = _noop,
) -> BranchInstance:
    """Copy `parent`'s data directory to `root/data` copy-on-write and start it on `port`."""
    started = time.perf_counter()
    available = cow.clone_method(parent.data)
    method = method or available
    if method is None or not method.copy_on_write:
        raise ExternalFailure(
            f"{parent.data} is not on a filesystem with snapshots or reflinks",
            fix="use the TEMPLATE copy, or put the data dir on btrfs or XFS with reflink=1",
        )
    if method is BranchMethod.SNAPSHOT and available is not BranchMethod.SNAPSHOT:
        raise ExternalFailure(f"{parent.data} is not a btrfs subvolume", fix="branch with the reflink method")
    with instance_lock(root):
        if root.exists():
            raise Conflict(f"branch directory {root} already exists", fix="choose another branch name")
        root.mkdir(parents=True)
        (root / INCOMPLETE).touch()
        branch = LocalCluster(
            root,
            port=port or free_port(),
            password=parent.password,
            bin_dir=parent.bin_dir,
            user=parent.user_name,
            settings=BRANCH_SETTINGS,
        )
        try:
            _copy(parent, branch, method, progress, (database, role))
            branch.start()
            progress(0.95, f"branch instance accepts connections on port {branch.port}")
        except BaseException:
            branch.destroy()
            raise
        (root / INCOMPLETE).unlink()
    return BranchInstance(method, branch, time.perf_counter() - started)


def reset_instance(
    parent: LocalCluster, branch: LocalCluster, *, database: str, role: str, progress: Progress = _noop
) -> BranchInstance:
    """Throw the branch's changes away: a fresh copy of the parent, on the same port."""
    with instance_lock(branch.root):
        return repair_instance(parent, branch, database=database, role=role, progress=progress)


def repair_instance(
    parent: LocalCluster, branch: LocalCluster, *, database: str, role: str, progress: Progress = _noop
) -> BranchInstance:
    """`reset_instance` for a caller that holds the instance's lock: also what makes a branch
    whole again after a reset was killed half-way (whatever of it is left, or nothing).
    On failure the marker stays, so the branch is repaired again rather than deleted."""
    started = time.perf_counter()
    method = cow.clone_method(parent.data)
    if method is None:
        raise ExternalFailure(
            f"{parent.data} is no longer on a copy-on-write filesystem", fix="delete the branch and branch again"
        )
    branch.root.mkdir(parents=True, exist_ok=True)
    (branch.root / INCOMPLETE).touch()
    branch.stop()
    cow.delete_tree(branch.data)
    try:
        _copy(parent, branch, method, progress, (database, role))
        branch.start()
    except BaseException:
        branch.stop(mode="immediate")
        cow.delete_tree(branch.data)
        raise
    (branch.root / INCOMPLETE).unlink()
    return BranchInstance(method, branch, time.perf_counter() - started)


def _copy(
    parent: LocalCluster, branch: LocalCluster, method: BranchMethod, progress: Progress, only: tuple[str, str]
) -> None:
    user = os_user(parent.user_name)
    (branch.root / "log").mkdir(exist_ok=True)
    for p in (branch.root, branch.root / "log"):
        os.chown(p, user.pw_uid, user.pw_gid)
    (branch.root / ".hardened").touch()  # the copy carries its parent's hardening
    running = parent.running
    if method is BranchMethod.SNAPSHOT:
        if running:
            # Recovery replays the WAL written since the last checkpoint: make that nearly none.
            parent.checkpoint()
            progress(0.2, "checkpointed the parent")
        cow.snapshot(parent.data, branch.data)
        progress(0.5, f"snapshotted {parent.data}")
    elif running:
        _online_reflink(parent, branch)
        progress(0.5, f"cloned {parent.data} with reflinks")
    else:
        cow.reflink_copy(parent.data, branch.data)
    for name in _RUNTIME_FILES:
        (branch.data / name).unlink(missing_ok=True)
    shutil.rmtree(branch.data / "log", ignore_errors=True)
    branch._write_hba(only=only)
    branch.data.chmod(0o700)


def _online_reflink(parent: LocalCluster, branch: LocalCluster) -> None:
    # Files cloned one by one are not a consistent image by themselves; inside a backup
    # (full-page writes on, the start checkpoint recorded in backup_label) they are, and
    # recovery replays the WAL cloned last to make them so.
    with parent.engine().admin() as conn:
        conn.execute("SELECT pg_backup_start('codeforge-branch', true)")
        try:
            cow.reflink_copy(parent.data, branch.data)
        finally:
            row = conn.execute("SELECT labelfile, spcmapfile FROM pg_backup_stop(false)").fetchone()
    assert row is not None
    user = os_user(parent.user_name)
    for name, text in (("backup_label", row[0]), ("tablespace_map", row[1])):
        if text:
            (branch.data / name).write_text(text)
            os.chown(branch.data / name, user.pw_uid, user.pw_gid)
    wal = branch.data / "pg_wal"
    cow.delete_tree(wal)
    cow.reflink_copy(parent.data / "pg_wal", wal)


@dataclass(frozen=True)
class Swept:
    removed: list[str]  # directories stopped and deleted
    to_repair: list[str]  # ready branches a killed reset left incomplete


def sweep(branches_dir: Path, known: set[str], ready: set[str] | None = None) -> Swept:
    """Stop and delete branch instances that are unknown to the platform, or incomplete and
    not ready (a branch killed while being made); report the incomplete ones whose branch is
    ready (a reset killed half-way) for repair. Directories whose lock is held belong to an
    operation in progress and are left alone."""
    ready = known if ready is None else ready
    out = Swept([], [])
    if not branches_dir.is_dir():
        return out
    for root in sorted(branches_dir.iterdir()):
        if root.name.startswith(".") and root.name.endswith(".lock"):
            owner = branches_dir / root.name[1:].removesuffix(".lock")
            if not owner.exists():  # the lock of a directory deleted meanwhile
                with contextlib.suppress(Busy), instance_lock(owner, wait=False):
                    root.unlink(missing_ok=True)
            continue
        if not root.is_dir() or root.name.startswith("."):
            continue
        if root.name in known and not (root / INCOMPLETE).exists():
            continue  # the common case, every pass: a sound branch needs no lock to be left alone
        try:
            with instance_lock(root, wait=False):
                incomplete = (root / INCOMPLETE).exists()
                if root.name in known and not incomplete:
                    continue
                if root.name in ready:
                    out.to_repair.append(root.name)
                    continue
                LocalCluster(root, port=0, password="").destroy()
                out.removed.append(root.name)
            _drop_lock_file(root)
        except Busy:
            continue
    return out
