"""Copy-on-write branches for the embedded engine: where the platform's data dir is on a
filesystem without snapshots or reflinks (ext4), every branch is a full TEMPLATE copy
(about 1 s per GB). This says so where the user looks (`codeforge up`'s banner,
`engines list`, a branch's result) and moves the embedded engine onto a btrfs volume:

    sudo .venv/bin/python -m codeforge.platform.databases.volume [--data-dir DIR] [--size 20G] [--fstab]

It makes a btrfs filesystem in a loop file `<data dir>/databases/cow-volume.btrfs`, mounts it
at `<data dir>/databases/engines` (where the embedded engine lives) and moves what was there
onto it, each cluster's data directory as a subvolume so branches are snapshots; the
clusters are stopped first and the platform starts them again on first use.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from codeforge.platform.databases.engines import cow
from codeforge.platform.databases.engines.cluster import LocalCluster
from codeforge.platform.settings import Settings

__all__ = ["IMAGE_NAME", "copy_on_write_advice", "main", "make_volume"]

IMAGE_NAME = "cow-volume.btrfs"
_COMMAND = "sudo {python} -m codeforge.platform.databases.volume --data-dir {data_dir}"


def engines_dir(data_dir: Path) -> Path:
    return data_dir / "databases" / "engines"


def copy_on_write_advice(data_dir: Path, where: Path | None = None, *, reflink: bool | None = None) -> str | None:
    """None where branches are copy-on-write; else one line saying why not and what to do.
    `reflink`: whether `where` clones files, when the caller has tried already (a try runs `cp`)."""
    where = where or engines_dir(data_dir)
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    fs = cow.filesystem_of(probe)
    if reflink is None:
        reflink = probe.is_dir() and cow.supports_reflink(probe)
    if fs == "btrfs" or reflink:
        return None
    command = _COMMAND.format(python=sys.executable, data_dir=data_dir)
    return (
        f"database branches here are full copies (template-copy, about 1 s per GB) because {where} is on {fs or 'this filesystem'}; "
        f"for copy-on-write branches (constant time) run `{command}` "
        "(or register an engine whose data_dir is on btrfs or XFS with reflink=1, as the default)"
    )


def _run(*args: str) -> None:
    proc = subprocess.run(list(args), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {(proc.stderr or proc.stdout).strip()}")


def make_volume(data_dir: Path, size: str = "20G") -> Path:
    """Mount a btrfs loop volume at the embedded engines' folder and move them onto it."""
    if os.geteuid() != 0:
        raise SystemExit("mounting a volume needs root: run it with sudo")
    if not shutil.which("mkfs.btrfs"):
        raise SystemExit("mkfs.btrfs is missing: apt-get install btrfs-progs")
    target = engines_dir(data_dir)
    if target.exists() and cow.filesystem_of(target) == "btrfs":
        return target  # done before
    # Clusters keep running when the platform stops; they must not run while they move.
    for pid in target.glob("**/postmaster.pid") if target.exists() else ():
        LocalCluster(pid.parent.parent, port=0, password="").stop()
    image = data_dir / "databases" / IMAGE_NAME
    image.parent.mkdir(parents=True, exist_ok=True)
    if not image.exists():
        _run("truncate", "-s", size, str(image))
        _run("mkfs.btrfs", "-q", str(image))
    old = target.with_name("engines.moving")
    if target.exists():
        target.rename(old)
    target.mkdir()
    _run("mount", "-o", "loop", str(image), str(target))
    target.chmod(0o755)
    if old.exists():
        for root in sorted(old.iterdir()):
            dest = target / root.name
            if not root.is_dir() or root.name.startswith("."):
                _run("cp", "-a", str(root), str(dest))
                continue
            dest.mkdir()
            shutil.copystat(root, dest)
            st = root.stat()
            os.chown(dest, st.st_uid, st.st_gid)
            for item in sorted(root.iterdir()):
                if item.name == "data" and item.is_dir():
                    cow.make_directory(dest / "data")  # a subvolume: its branches are snapshots
                    _run("cp", "-a", f"{item}/.", str(dest / "data"))
                else:
                    _run("cp", "-a", str(item), str(dest / item.name))
        shutil.rmtree(old)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m codeforge.platform.databases.volume",
        description="Put the embedded database engine on a copy-on-write btrfs volume.",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="the platform's data dir (CODEFORGE_DATA_DIR)")
    parser.add_argument("--size", default="20G", help="size of the volume's loop file (sparse), e.g. 20G")
    parser.add_argument("--fstab", action="store_true", help="also add the mount to /etc/fstab (survives reboots)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Settings().data_dir
    target = make_volume(data_dir, args.size)
    line = f"{data_dir / 'databases' / IMAGE_NAME} {target} btrfs loop 0 0"
    if args.fstab:
        fstab = Path("/etc/fstab")
        if line not in fstab.read_text():
            with fstab.open("a") as fh:
                fh.write(line + "\n")
    print(
        f"copy-on-write volume mounted at {target}"
        + ("" if args.fstab else f"; to mount it again after a reboot, add to /etc/fstab:\n  {line}")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
