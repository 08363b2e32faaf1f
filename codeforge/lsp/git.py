"""The current git branch of a folder, read from `.git/HEAD` (no git binary needed).

Editors send file URIs; the language server only needs to know which branch is checked
out, to name a database branch after it. Worktrees and submodules have a `.git` *file*
that points at the real git directory (`gitdir: …`); that is followed too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitHead", "find_git_dir", "read_head"]

_REF_PREFIX = "ref: refs/heads/"


@dataclass(frozen=True)
class GitHead:
    """Where HEAD points: `branch` is None when it is detached (a commit checked out)."""

    repo: Path  # the working tree's top folder
    branch: str | None


def find_git_dir(start: Path) -> tuple[Path, Path] | None:
    """(working tree, git directory) of the repository holding `start`, or None."""
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        dot_git = candidate / ".git"
        if dot_git.is_dir():
            return candidate, dot_git
        if dot_git.is_file():
            try:
                first = dot_git.read_text(encoding="utf-8").splitlines()[0]
            except (OSError, UnicodeDecodeError, IndexError):
                return None
            if not first.startswith("gitdir:"):
                return None
            target = Path(first.removeprefix("gitdir:").strip())
            return candidate, target if target.is_absolute() else (candidate / target).resolve()
    return None


def read_head(start: Path) -> GitHead | None:
    """The branch checked out in the repository holding `start`; None outside a repository
    or when HEAD cannot be read."""
    found = find_git_dir(start)
    if found is None:
        return None
    repo, git_dir = found
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if head.startswith(_REF_PREFIX):
        return GitHead(repo, head.removeprefix(_REF_PREFIX))
    return GitHead(repo, None)
