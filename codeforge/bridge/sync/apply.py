"""Changing one side's tree safely: atomic writes, deletes, renames, links, conflict copies.

Every file is written to a temporary file in its own folder (or, for a large file, to a
partial file in the sync's state folder, which a restarted sync continues) and renamed over
the destination only once complete: a full disk or a dropped connection never leaves a
half-written file in place (the write fails before the rename). With `durable` (the `fsync`
setting) the files are also flushed before their renames, so a power loss cannot leave an
empty file under the new name either: one `syncfs` per batch instead of one `fsync` each
(a fraction of the cost). Every path is checked by `paths.target_path` first.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codeforge.bridge.sync.ignore import TEMP_PREFIX
from codeforge.bridge.sync.paths import PathRefused, link_target_inside, target_path, target_str
from codeforge.bridge.sync.tree import MODE_MASK, Entry, entry_for

__all__ = [
    "ApplyError",
    "Staged",
    "commit",
    "conflict_name",
    "delete_path",
    "make_dir",
    "make_link",
    "move_path",
    "set_mode",
    "stage_file",
    "stage_partial",
    "write_partial",
]

_syncfs: Callable[[int], int] | None
try:
    _syncfs = ctypes.CDLL(None, use_errno=True).syncfs
except (OSError, AttributeError):  # not Linux: fall back to fsync per file
    _syncfs = None


def _umask() -> int:
    """This process's umask, read without changing it (os.umask would, for all threads)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o777  # unknown: always chmod


_UMASK = _umask()


class ApplyError(Exception):
    """A change could not be applied here; the message says what and what to do."""


def _describe(exc: OSError, rel: str, what: str) -> ApplyError:
    if exc.errno == errno.ENOSPC:
        return ApplyError(f"no space left on the device writing {rel}: {what} was not changed; free some space")
    if exc.errno == errno.EDQUOT:
        return ApplyError(f"disk quota exceeded writing {rel}: {what} was not changed")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ApplyError(f"permission denied writing {rel}: {what} was not changed")
    return ApplyError(f"cannot write {rel}: {exc.strerror or exc}")


def _parents(root: Path, path: Path) -> None:
    """Create missing folders above `path` as real folders (checked: never through links)."""
    parent = path.parent
    if parent != root and not parent.is_dir():
        parent.mkdir(parents=True, exist_ok=True)


@dataclass
class Staged:
    """A complete temporary file waiting for its rename."""

    rel: str
    tmp: str
    final: str
    entry: Entry


def stage_file(
    root: Path,
    rel: str,
    data: bytes | memoryview,
    mode: int,
    mtime_ns: int,
    *,
    durable: bool = False,
    known: set[str] | None = None,
    final: str | None = None,
) -> Staged:
    """Write `data` to a temporary file beside `rel` (`known`: folders checked already;
    `final`: `rel`'s path as `target_str` returned it, when the caller checked it)."""
    if final is None:
        final = target_str(root, rel, known)
    folder = rel.rpartition("/")[0]
    if folder and (known is None or folder + "/" not in known):
        try:
            os.makedirs(final.rpartition("/")[0], exist_ok=True)
        except FileExistsError:
            raise ApplyError(f"cannot write {rel}: a file is where its folder {folder} should be") from None
        except OSError as exc:
            raise _describe(exc, rel, "the file") from None
        if known is not None:
            known.add(folder + "/")  # "x/": made; "x" (target_str): checked
    tmp = f"{final.rpartition('/')[0]}/{TEMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & MODE_MASK)
    except OSError as exc:
        raise _describe(exc, rel, "the file") from None
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if mode & _UMASK:  # created with mode & ~umask: only then is a chmod needed
            os.fchmod(fd, mode & MODE_MASK)
        os.utime(fd, ns=(mtime_ns, mtime_ns))
        if durable and _syncfs is None:
            os.fsync(fd)  # no syncfs here: each file flushed on its own
        st = os.fstat(fd)  # the inode keeps these through the rename: no stat afterwards
    except OSError as exc:
        os.close(fd)
        _unlink(tmp)
        raise _describe(exc, rel, "the file") from None
    os.close(fd)
    return Staged(rel, tmp, final, Entry("f", mode & MODE_MASK, st.st_size, st.st_mtime_ns, st.st_ino))


def commit(root: Path, staged: list[Staged], *, durable: bool = False) -> dict[str, Entry | ApplyError]:
    """Rename each staged file into place (`durable`: flush them all first, one syncfs)."""
    results: dict[str, Entry | ApplyError] = {}
    if durable and staged and _syncfs is not None:
        fd = os.open(root, os.O_RDONLY)
        try:
            _syncfs(fd)
        finally:
            os.close(fd)
    for item in staged:
        try:
            try:
                os.replace(item.tmp, item.final)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                # A partial in the state folder, the destination on another file system.
                beside = f"{item.final.rpartition('/')[0]}/{TEMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}.tmp"
                try:
                    shutil.copy2(item.tmp, beside)
                    os.replace(beside, item.final)
                finally:
                    _unlink(beside)
                _unlink(item.tmp)
        except OSError as exc:
            _unlink(item.tmp)
            if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                results[item.rel] = ApplyError(f"cannot write file {item.rel}: a folder of that name is here")
            else:
                results[item.rel] = _describe(exc, item.rel, "the file")
            continue
        results[item.rel] = item.entry
    return results


def write_partial(path: Path, offset: int, data: bytes | memoryview, rel: str) -> None:
    """Append a chunk at `offset` to a partial large file (dropping anything past it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            # Nothing of a large file stays behind when the disk is full: it would keep the space.
            _unlink(path)
        raise _describe(exc, rel, "the file") from None


def stage_partial(
    root: Path,
    partial: Path,
    rel: str,
    digest: str,
    mode: int,
    mtime_ns: int,
    *,
    durable: bool = False,
    content_hash: str | None = None,
) -> Staged:
    """Check a complete partial large file's hash (`content_hash`: computed as its chunks
    were written; else it is read here) and make it ready for `commit`'s rename."""
    final = target_str(root, rel)
    if content_hash is None:
        h = hashlib.blake2b(digest_size=16)
        with open(partial, "rb") as f:
            while chunk := f.read(1024 * 1024):
                h.update(chunk)
        content_hash = h.hexdigest()
    if content_hash != digest:
        _unlink(partial)
        raise ApplyError(f"{rel} arrived damaged (hash mismatch); it will be sent again")
    try:
        os.makedirs(final.rpartition("/")[0], exist_ok=True)
        fd = os.open(partial, os.O_WRONLY)
        try:
            os.fchmod(fd, mode & MODE_MASK)
            os.utime(fd, ns=(mtime_ns, mtime_ns))
            if durable and _syncfs is None:
                os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _describe(exc, rel, "the file") from None
    return Staged(rel, str(partial), final, Entry("f", mode & MODE_MASK, st.st_size, st.st_mtime_ns, st.st_ino))


def make_link(root: Path, rel: str, target: str) -> Entry:
    if not link_target_inside(rel, target):
        raise PathRefused(rel, f"its link target {target!r} points outside the synced folder")
    final = target_path(root, rel)
    _parents(root, final)
    tmp = final.parent / f"{TEMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}.tmp"
    try:
        os.symlink(target, tmp)
        os.replace(tmp, final)
    except OSError as exc:
        _unlink(tmp)
        raise _describe(exc, rel, "the link") from None
    entry = entry_for(final, rel)
    assert entry is not None
    return entry


def make_dir(root: Path, rel: str, mode: int) -> Entry:
    final = target_path(root, rel)
    try:
        final.mkdir(parents=True, exist_ok=True)
        os.chmod(final, (mode & MODE_MASK) | stat.S_IRWXU)  # keep it writable for sync itself
    except FileExistsError:
        raise ApplyError(f"cannot make folder {rel}: a file of that name is here") from None
    except OSError as exc:
        raise _describe(exc, rel, "the folder") from None
    entry = entry_for(final, rel)
    assert entry is not None
    return entry


def delete_path(root: Path, rel: str) -> bool:
    """Remove a file or link, or a folder if it is empty; False if a folder still has content."""
    final = target_path(root, rel)
    try:
        st = os.lstat(final)
    except FileNotFoundError:
        return True
    try:
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(final)
        else:
            os.unlink(final)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        if exc.errno == errno.ENOENT:
            return True
        raise _describe(exc, rel, "it") from None
    return True


def move_path(root: Path, src: str, dst: str) -> None:
    source, dest = target_path(root, src), target_path(root, dst)
    try:
        _parents(root, dest)
        os.replace(source, dest)
    except OSError as exc:
        raise _describe(exc, dst, "the renamed file") from None


def set_mode(root: Path, rel: str, mode: int) -> None:
    final = target_path(root, rel)
    try:
        os.chmod(final, mode & MODE_MASK, follow_symlinks=False)
    except NotImplementedError:
        pass  # a symlink: Linux has no lchmod, and a link's own mode means nothing there
    except OSError as exc:
        raise _describe(exc, rel, "its permissions") from None


def conflict_name(root: Path, rel: str, side: str) -> str:
    """`name.conflict-<side>-<UTC time>`, with a counter if that exists already."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"{rel}.conflict-{side}-{stamp}"
    counter = 2
    while os.path.lexists(root / name):
        name = f"{rel}.conflict-{side}-{stamp}-{counter}"
        counter += 1
    return name


def _unlink(path: Path | str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
