"""Copy-on-write on the filesystem under a data directory: btrfs subvolume snapshots and
reflink clones. With either, copying a data directory costs the same at any size."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from codeforge.catalog.errors import ExternalFailure
from codeforge.platform.databases.engines.common import BranchMethod, tail

__all__ = [
    "clone_method",
    "delete_tree",
    "filesystem_of",
    "is_subvolume",
    "make_directory",
    "reflink_copy",
    "snapshot",
    "supports_reflink",
]

_BTRFS_SUBVOLUME_ROOT_INODE = 256  # every btrfs subvolume's top directory has this inode number


def filesystem_of(path: Path) -> str:
    """The filesystem type of the mount holding `path` (longest mount point prefix)."""
    path = Path(os.path.realpath(path))
    best, fstype = "", ""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        mount = fields[4].replace("\\040", " ")
        inside = str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, fstype = mount, right.split()[0]
    return fstype


def _btrfs() -> str | None:
    return shutil.which("btrfs") or next(
        (p for p in ("/usr/bin/btrfs", "/bin/btrfs", "/sbin/btrfs", "/usr/sbin/btrfs") if os.path.exists(p)), None
    )


def is_subvolume(path: Path) -> bool:
    try:
        return filesystem_of(path) == "btrfs" and path.stat().st_ino == _BTRFS_SUBVOLUME_ROOT_INODE
    except OSError:
        return False


def make_directory(path: Path) -> bool:
    """Create `path` as a btrfs subvolume when it sits on btrfs (so it can be snapshotted),
    else as a plain directory. Returns whether it is a subvolume."""
    tool = _btrfs()
    if filesystem_of(path.parent) == "btrfs" and tool:
        proc = subprocess.run([tool, "subvolume", "create", str(path)], capture_output=True, text=True)
        if proc.returncode == 0:
            return True
    path.mkdir()
    return False


def supports_reflink(directory: Path) -> bool:
    """Whether files in `directory` can be cloned (a real clone is tried: the answer depends
    on the filesystem and how it was made, e.g. XFS with reflink=1)."""
    probe = directory / f".cf-reflink-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"x")
        proc = subprocess.run(["cp", "--reflink=always", str(probe), str(probe) + ".c"], capture_output=True)
        return proc.returncode == 0
    except OSError:
        return False
    finally:
        for p in (probe, Path(str(probe) + ".c")):
            p.unlink(missing_ok=True)


def clone_method(data_dir: Path) -> BranchMethod | None:
    """How a data directory can be copied cheaply, if at all."""
    if is_subvolume(data_dir) and _btrfs():
        return BranchMethod.SNAPSHOT
    if data_dir.is_dir() and supports_reflink(data_dir.parent):
        return BranchMethod.REFLINK
    return None


def snapshot(source: Path, target: Path) -> None:
    """An atomic, writable snapshot of subvolume `source` at `target` (same filesystem)."""
    tool = _btrfs()
    if not tool:
        raise ExternalFailure("btrfs-progs is not installed", fix="apt-get install btrfs-progs")
    proc = subprocess.run([tool, "subvolume", "snapshot", str(source), str(target)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ExternalFailure(
            f"btrfs snapshot of {source} failed: {tail(proc.stderr)}", fix="check free space on the btrfs filesystem"
        )


def reflink_copy(source: Path, target: Path) -> None:
    """Clone a directory tree file by file, sharing every data block with the source."""
    proc = subprocess.run(["cp", "-a", "--reflink=always", str(source), str(target)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ExternalFailure(
            f"reflink copy of {source} failed: {tail(proc.stderr)}",
            fix="the filesystem must support reflinks (btrfs, XFS made with reflink=1)",
        )


def delete_tree(path: Path) -> None:
    """Remove a directory tree, deleting btrfs subvolumes inside it the fast way."""
    if not path.exists():
        return
    tool = _btrfs()
    if tool and filesystem_of(path) == "btrfs":
        subvols = [p for p in [path, *path.glob("*")] if p.is_dir() and not p.is_symlink() and is_subvolume(p)]
        for sub in sorted(subvols, key=lambda p: -len(p.parts)):
            if sub == path:
                continue
            subprocess.run([tool, "subvolume", "delete", str(sub)], capture_output=True)
        if is_subvolume(path):
            subprocess.run([tool, "subvolume", "delete", str(path)], capture_output=True)
    if path.exists():
        shutil.rmtree(path)
