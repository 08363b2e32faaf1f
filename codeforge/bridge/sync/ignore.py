"""What sync leaves alone: `.git`, its own state, `.gitignore` rules and the configured list.

`.gitignore` files are read at every level (pathspec's git semantics, the deepest file
deciding last, as git does); the configured patterns (`.codeforge/sync.yaml` `ignore:`) use
the same syntax relative to the synced folder and decide after every `.gitignore`. A folder
that is ignored hides everything below it, as in git.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pathspec

from codeforge.bridge.sync.paths import STATE_DIR

__all__ = ["ALWAYS_IGNORED_NAMES", "TEMP_PREFIX", "Ignorer"]

log = logging.getLogger(__name__)

# `.git` holds a repository's internals (lock files, packs, hooks): syncing it would race
# git itself on both sides, and writing hooks is a way to run code on the other side.
ALWAYS_IGNORED_NAMES = frozenset({".git"})
# Sync's own temporary files (a file being written, before its atomic rename).
TEMP_PREFIX = ".cfsync-"


class Ignorer:
    """Answers `ignored(rel, is_dir)` for one tree; `.gitignore` files are cached until
    `forget(dir)` is called for their folder (the watcher does when one changes)."""

    def __init__(self, root: Path, patterns: list[str] | None = None) -> None:
        self.root = root
        self.extra = pathspec.GitIgnoreSpec.from_lines(patterns or [])
        self._has_extra = bool(self.extra.patterns)
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self._folders: dict[str, bool] = {}  # folder -> ignored (itself or above), memoized
        # folder -> the .gitignore files that apply to its entries, outermost first, each with
        # how many leading parts of a path to drop (memoized: a scan asks once per entry).
        self._chains: dict[str, tuple[tuple[int, pathspec.GitIgnoreSpec], ...]] = {}

    def forget(self, folder: str) -> None:
        self._specs.pop(folder, None)
        self._folders.clear()  # a folder's decision may depend on this file
        self._chains.clear()

    def _spec(self, folder: str) -> pathspec.GitIgnoreSpec | None:
        if folder in self._specs:
            return self._specs[folder]
        spec: pathspec.GitIgnoreSpec | None = None
        path = self.root / folder / ".gitignore" if folder else self.root / ".gitignore"
        try:
            spec = pathspec.GitIgnoreSpec.from_lines(path.read_text(encoding="utf-8", errors="replace").splitlines())
        except FileNotFoundError:
            spec = None
        except OSError as exc:
            log.warning("cannot read %s (%s); its rules are not applied", path, exc)
        self._specs[folder] = spec
        return spec

    def _decide(self, rel: str, is_dir: bool) -> bool:
        """This one path's own decision (its parents are checked by `ignored`)."""
        name = rel.rsplit("/", 1)[-1]
        if name in ALWAYS_IGNORED_NAMES or name.startswith(TEMP_PREFIX):
            return True
        if rel == STATE_DIR or rel.startswith(STATE_DIR + "/"):
            return True
        suffix = "/" if is_dir else ""
        decision = False
        chain = self._chain(rel.rpartition("/")[0])
        if chain:
            parts = rel.split("/")
            for depth, spec in chain:  # deepest last: it has the last word, as in git
                result = spec.check_file("/".join(parts[depth:]) + suffix)
                if result.include is not None:
                    decision = result.include
        if self._has_extra:
            result = self.extra.check_file(rel + suffix)
            if result.include is not None:
                decision = result.include
        return decision

    def _chain(self, folder: str) -> tuple[tuple[int, pathspec.GitIgnoreSpec], ...]:
        chain = self._chains.get(folder)
        if chain is None:
            chain = self._chain(folder.rpartition("/")[0]) if folder else ()
            spec = self._spec(folder)
            if spec is not None:
                chain += ((folder.count("/") + 1 if folder else 0, spec),)
            self._chains[folder] = chain
        return chain

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """Whether `rel` (or a folder above it) is ignored."""
        parent = rel.rpartition("/")[0]
        if parent and self._folder_ignored(parent):
            return True
        return self._decide(rel, is_dir)

    def _folder_ignored(self, folder: str) -> bool:
        known = self._folders.get(folder)
        if known is None:
            parent = folder.rpartition("/")[0]
            known = (bool(parent) and self._folder_ignored(parent)) or self._decide(folder, True)
            self._folders[folder] = known
        return known

    def ignored_in_scan(self, rel: str, is_dir: bool) -> bool:
        """Like `ignored`, for a walk that never enters an ignored folder (parents are known good)."""
        return self._decide(rel, is_dir)
