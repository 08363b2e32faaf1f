"""What every FileStore method shares: checked names, `cp -a` with its failures read (a full
disk is named as such), mounts, and the `.partial` naming that makes each step atomic."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from codeforge.catalog.errors import BadInput, CodeForgeError, ExternalFailure, FieldProblem
from codeforge.platform.databases.engines.common import tail

__all__ = [
    "PARTIAL",
    "check_id",
    "copy_tree",
    "du_bytes",
    "is_mounted",
    "new_id",
    "no_space",
    "os_failure",
    "remove_tree",
    "run",
    "unmount",
]

PARTIAL = ".partial"  # a tree under this suffix is half-made; sweep() removes it
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_id(field: str, value: object) -> str:
    """A workspace or snapshot id is one path component of our own: no '/', no '..', no
    `.partial` suffix (that name marks half-made trees)."""
    if isinstance(value, str) and _ID.match(value) and ".." not in value and not value.endswith(PARTIAL):
        return value
    raise BadInput(
        f"{field} {value!r} cannot name a tree",
        errors=[
            FieldProblem(
                field,
                "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, "
                f"without '..' and not ending in '{PARTIAL}'",
                "use a name like ws-1 or snap-2026-11-30",
            )
        ],
    )


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def no_space(root: Path, what: str, detail: str) -> ExternalFailure:
    return ExternalFailure(
        f"no space left on the workspaces volume {root} while {what}: {detail}",
        fix="free space there (delete old snapshots or workspaces) or grow the volume, then retry",
    )


def _is_enospc(text: str) -> bool:
    return "no space left" in text.lower() or "disk quota exceeded" in text.lower()


def os_failure(root: Path, what: str, exc: OSError) -> CodeForgeError:
    """An OSError as the platform's error: a full disk named as such."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return no_space(root, what, str(exc))
    return ExternalFailure(f"{what} failed: {exc}", fix=f"check the workspaces volume {root} (permissions, mounts)")


def run(args: list[str], root: Path, what: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = tail(proc.stderr or proc.stdout)
        if _is_enospc(proc.stderr + proc.stdout):
            raise no_space(root, what, detail)
        raise ExternalFailure(f"{what} failed: {detail}", fix=f"check the workspaces volume {root}")
    return proc


def copy_tree(source: Path, target: Path, root: Path, *, reflink: str) -> None:
    """`cp -a` keeps what a tree is: modes, owners, times, symlinks, hard links, xattrs (the
    overlay's whiteouts too). `reflink`: always (clone blocks or fail), auto, never."""
    run(["cp", "-a", f"--reflink={reflink}", "-T", "--", str(source), str(target)], root, f"copying {source}")


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path)


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def is_mounted(path: Path) -> bool:
    """Whether something is mounted exactly at `path` (mountinfo, not st_dev: a btrfs
    subvolume has its own device number and is no mount)."""
    wanted = os.path.realpath(path)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    return any(len(f := ln.split()) > 4 and _unescape(f[4]) == wanted for ln in lines)


def unmount(path: Path, root: Path, *, lazy: bool = False) -> bool:
    """Unmount `path`; False when it is busy (a process works in it) and `lazy` is not set."""
    while is_mounted(path):
        proc = subprocess.run(["umount", *(["-l"] if lazy else []), str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            if "busy" in proc.stderr.lower() and not lazy:
                return False
            raise ExternalFailure(
                f"unmounting {path} failed: {tail(proc.stderr)}", fix=f"check the mounts under {root}"
            )
    return True


def du_bytes(path: Path, root: Path) -> int:
    """Apparent size of a tree in bytes (what the files hold; shared blocks count for each tree)."""
    proc = run(["du", "-s", "-b", "--", str(path)], root, f"measuring {path}")
    return int(proc.stdout.split()[0])
