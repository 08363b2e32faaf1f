"""Volumes the workspace tests share: a btrfs loop volume (subvolume snapshots), an XFS loop
volume made with reflink=1 (file clones), and small tmpfs mounts for full-disk faults. Real
mounts (we run as root); a test skips with the reason where mounting is not possible here."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import require

__all__ = ["btrfs_volume", "small_tmpfs", "xfs_volume"]


def _run(args: list[str]) -> str | None:
    """None when the command worked; else its error."""
    if not shutil.which(args[0]):
        return f"{args[0]} is not installed"
    proc = subprocess.run(args, capture_output=True, text=True)
    return None if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()[-300:]


def _unmount(path: Path) -> None:
    if os.path.ismount(path) and _run(["umount", str(path)]):
        _run(["umount", "-l", str(path)])  # a test left a process inside: detach it anyway


def _loop_volume(base: Path, mkfs: list[str], size: str = "2G") -> tuple[Path | None, str]:
    image, mount = base / "volume.img", base / "mnt"
    mount.mkdir(parents=True)
    if os.geteuid() != 0:
        return None, "mounting a loop volume needs root"
    problem = _run(["truncate", "-s", size, str(image)]) or _run([*mkfs, str(image)])
    problem = problem or _run(["mount", "-o", "loop", str(image), str(mount)])
    return (None, problem) if problem else (mount, "")


def _volume(tmp_path_factory: pytest.TempPathFactory, name: str, mkfs: list[str]) -> Iterator[tuple[Path | None, str]]:
    base = tmp_path_factory.mktemp(name)
    mount, problem = _loop_volume(base, mkfs)
    try:
        yield mount, problem
    finally:
        if mount:
            _unmount(mount)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def _btrfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path | None, str]]:
    yield from _volume(tmp_path_factory, "btrfs", ["mkfs.btrfs", "-q"])


@pytest.fixture(scope="session")
def _xfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path | None, str]]:
    yield from _volume(tmp_path_factory, "xfs", ["mkfs.xfs", "-q", "-m", "reflink=1"])


@pytest.fixture(scope="session")
def btrfs_volume(_btrfs: tuple[Path | None, str]) -> Path:
    """The mount point of a 2 GB (sparse) btrfs loop volume, shared by the session: make a
    folder of your own under it."""
    mount, problem = _btrfs
    require("btrfs", mount is not None, f"cannot make a btrfs loop volume: {problem}")
    assert mount is not None
    return mount


@pytest.fixture(scope="session")
def xfs_volume(_xfs: tuple[Path | None, str]) -> Path:
    """The mount point of a 2 GB (sparse) XFS loop volume made with reflink=1."""
    mount, problem = _xfs
    require("xfs-reflink", mount is not None, f"cannot make an XFS reflink loop volume: {problem}")
    assert mount is not None
    return mount


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """`small_tmpfs("4M")` mounts a tmpfs of that size (for full-disk faults); unmounted after."""
    mounts: list[Path] = []

    def make(size: str) -> Path:
        mount = tmp_path / f"tmpfs-{len(mounts)}"
        mount.mkdir()
        problem = _run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)])
        require("tmpfs", problem is None, f"cannot mount a tmpfs: {problem}")
        mounts.append(mount)
        return mount

    yield make
    for mount in reversed(mounts):
        # Overlay mounts a test made inside go first, then the tmpfs itself.
        inner = [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()]
        for path in sorted((p for p in inner if p.startswith(str(mount) + "/")), key=len, reverse=True):
            _unmount(Path(path))
        _unmount(mount)
