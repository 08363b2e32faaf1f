"""Scanning one side's tree: entries (file, symbolic link, folder) with content hashes.

A scan never follows a symbolic link: links are entries of their own (their target text is
what is synced), and a link whose target leaves the tree is skipped with a warning. Hashes
are BLAKE2b (16 bytes) of the content; a cache keyed by size, mtime and inode avoids
re-reading files that did not change since the last scan.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from codeforge.bridge.sync.ignore import TEMP_PREFIX, Ignorer
from codeforge.bridge.sync.paths import link_target_inside

__all__ = [
    "DIR_HASH",
    "Entry",
    "Scan",
    "entry_for",
    "hash_bytes",
    "hash_file",
    "hash_missing",
    "link_hash",
    "scan_tree",
]

DIR_HASH = "dir"
# A sync's temporary file older than this (by ctime) was left by one that died: removed.
STALE_TEMP = 600.0
_READ = 1024 * 1024
# Only permission bits travel: setuid/setgid/sticky from a peer are never applied.
MODE_MASK = 0o777


def hash_bytes(data: bytes | memoryview) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def link_hash(target: str) -> str:
    return "l:" + hashlib.blake2b(target.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def hash_file(path: Path | str) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(_READ):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Entry:
    """What one side holds at a path. `hash` is None until computed (see `Scan.hash`)."""

    kind: str  # "f" file, "l" symbolic link, "d" folder
    mode: int
    size: int = 0
    mtime_ns: int = 0
    ino: int = 0
    hash: str | None = None
    target: str = ""  # a link's target

    def same_stat(self, other: Entry) -> bool:
        return (self.kind, self.size, self.mtime_ns, self.ino) == (other.kind, other.size, other.mtime_ns, other.ino)


def entry_for(path: Path | str, rel: str, st: os.stat_result | None = None) -> Entry | None:
    """The entry at `path` (not following links), None if nothing syncable is there."""
    if st is None:
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
    mode = stat.S_IMODE(st.st_mode) & MODE_MASK
    if stat.S_ISREG(st.st_mode):
        return Entry("f", mode, st.st_size, st.st_mtime_ns, st.st_ino)
    if stat.S_ISDIR(st.st_mode):
        return Entry("d", mode, hash=DIR_HASH)
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            return None
        return Entry("l", mode, target=target, hash=link_hash(target))
    return None  # sockets, fifos, devices are never synced


@dataclass
class Scan:
    entries: dict[str, Entry]
    folders: list[str]  # every folder scanned ("" is the root), for the watcher's budget
    warnings: list[str]


def scan_tree(
    root: Path,
    ignorer: Ignorer,
    cache: dict[str, Entry] | None = None,
    *,
    folders: Iterable[str] = ("",),
    recursive: bool = True,
) -> Scan:
    """Walk `folders` (relative; "" is the root) without following links. Hashes of files
    whose stat matches `cache` are reused; others are left None for `hash_missing`."""
    entries: dict[str, Entry] = {}
    scanned: list[str] = []
    warnings: list[str] = []
    stack = list(folders)
    real_root = os.path.realpath(root)
    while stack:
        folder = stack.pop()
        scanned.append(folder)
        base = root / folder if folder else root
        try:
            listing = os.scandir(base)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError as exc:
            warnings.append(f"cannot read folder {folder or '.'} ({exc.strerror}); it is not synced")
            continue
        with listing:
            for item in listing:
                rel = f"{folder}/{item.name}" if folder else item.name
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                is_dir = stat.S_ISDIR(st.st_mode)
                if ignorer.ignored_in_scan(rel, is_dir):
                    if item.name.startswith(TEMP_PREFIX) and time.time() - st.st_ctime > STALE_TEMP:
                        with contextlib.suppress(OSError):
                            os.unlink(item.path)  # left by a sync that was killed mid-write
                    continue
                entry = entry_for(item.path, rel, st)
                if entry is None:
                    continue
                if entry.kind == "l" and not _link_ok(real_root, item.path, rel, entry.target):
                    warnings.append(
                        f"symbolic link {rel} -> {entry.target} points outside the synced folder; it is not synced"
                    )
                    continue
                if entry.kind == "f" and cache is not None:
                    known = cache.get(rel)
                    if known is not None and known.hash is not None and known.same_stat(entry):
                        entry.hash = known.hash
                entries[rel] = entry
                if is_dir and recursive:
                    stack.append(rel)
    return Scan(entries, scanned, warnings)


def _link_ok(real_root: str, path: str, rel: str, target: str) -> bool:
    if not link_target_inside(rel, target):
        return False
    # Textually inside, but a link in between may still lead out: resolve what exists.
    resolved = os.path.realpath(path)
    return resolved == real_root or resolved.startswith(real_root + os.sep)


def hash_missing(root: Path, entries: dict[str, Entry], paths: Iterable[str] | None = None) -> None:
    """Fill in file hashes not known yet (files that vanished meanwhile are dropped)."""
    for rel in list(paths if paths is not None else entries):
        entry = entries.get(rel)
        if entry is None or entry.hash is not None:
            continue
        try:
            entry.hash = hash_file(root / rel)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            entries.pop(rel, None)
        except PermissionError:
            entries.pop(rel, None)
