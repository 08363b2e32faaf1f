"""Which paths sync may touch: relative, inside the tree, never through a symbolic link.

Both halves check every path the other side names before writing, deleting or renaming
anything, so a hostile or buggy peer cannot reach outside the synced folder (`../`, absolute
paths, a parent folder that is a symbolic link pointing elsewhere) nor into `.git` or the
sync's own state.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

__all__ = ["STATE_DIR", "PathRefused", "check_rel", "link_target_inside", "target_path", "target_str"]

# Where each side keeps its record of what was synced, and partial large files; never synced.
STATE_DIR = ".codeforge/sync-state"


class PathRefused(Exception):
    """A path names something outside the synced tree (or a part sync must not touch)."""

    def __init__(self, path: object, why: str) -> None:
        super().__init__(f"refused path {path!r}: {why}")
        self.path = path
        self.why = why


def check_rel(rel: object) -> str:
    """`rel` if it is a clean relative POSIX path inside the tree; PathRefused otherwise."""
    if not isinstance(rel, str) or not rel:
        raise PathRefused(rel, "not a path")
    if "\x00" in rel:
        raise PathRefused(rel, "it contains a NUL byte")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise PathRefused(rel, "absolute paths are not allowed; paths are relative to the synced folder")
    parts = rel.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise PathRefused(rel, "it leaves the synced folder (empty, '.' or '..' part)")
        if part == ".git":
            raise PathRefused(rel, "sync never writes inside .git")
    if rel == STATE_DIR or rel.startswith(STATE_DIR + "/"):
        raise PathRefused(rel, "sync's own state is not synced")
    return rel


def target_path(root: Path, rel: object, known: set[str] | None = None) -> Path:
    """The absolute path for `rel` under `root`, after checking that no existing parent
    folder is a symbolic link or a file (writing through one could land outside `root`).
    `known`: parent folders (relative) already checked in this batch, added to as checked."""
    return Path(target_str(root, rel, known))


def target_str(root: Path | str, rel: object, known: set[str] | None = None) -> str:
    """`target_path` as a string (for the per-file paths, where Path objects cost)."""
    clean = check_rel(rel)
    base = str(root)
    end = clean.find("/")
    while end != -1:
        parent = clean[:end]
        end = clean.find("/", end + 1)
        if known is not None and parent in known:
            continue
        try:
            st = os.lstat(f"{base}/{parent}")
        except FileNotFoundError:
            break  # the rest is created by sync as real folders
        if stat.S_ISLNK(st.st_mode):
            raise PathRefused(clean, f"its parent folder {parent} is a symbolic link")
        if not stat.S_ISDIR(st.st_mode):
            raise PathRefused(clean, f"its parent {parent} is not a folder")
        if known is not None:
            known.add(parent)
    return f"{base}/{clean}"


def link_target_inside(rel: str, target: str) -> bool:
    """Whether a symbolic link at `rel` with `target` stays inside the tree (judged on the
    text: absolute targets never do, relative ones may not climb above the root)."""
    if not target or target.startswith("/") or "\x00" in target:
        return False
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    return not (joined == ".." or joined.startswith("../") or joined.startswith("/"))
