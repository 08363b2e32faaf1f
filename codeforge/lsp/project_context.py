"""The project a workspace works in, read from its codeforge.yaml without re-reading the
file on every command: the parse is cached against the file's modification time, or
against the editor's buffer when the file is open there (what the user sees wins)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from codeforge.catalog.errors import FieldProblem
from codeforge.catalog.projects import SLUG_PATTERN
from codeforge.projectfile import PROJECT_FILE_NAMES, ProjectFileError

__all__ = ["ProjectContext"]

_SLUG = re.compile(SLUG_PATTERN)
# How long a "where is codeforge.yaml" answer is trusted: a command every few milliseconds
# should not walk the folders each time, and a newly created file counts within a second.
_LOOKUP_TTL = 1.0


@dataclass(frozen=True)
class _Cached:
    path: Path
    mtime_ns: int
    size: int
    project: str | None
    error: ProjectFileError | None
    text: str | None = None  # the editor's buffer it was read from; None for the file


class ProjectContext:
    """Answers "which project?" for one workspace root."""

    def __init__(self) -> None:
        self._cache: dict[Path, _Cached] = {}
        self._lookups: dict[Path, tuple[float, Path | None]] = {}

    def project_file(self, root: Path) -> Path | None:
        """The nearest codeforge.yaml at or above the root, as the CLI finds it."""
        now = time.monotonic()
        cached = self._lookups.get(root)
        if cached is not None and now - cached[0] < _LOOKUP_TTL:
            return cached[1]
        found = next(
            (
                folder / name
                for folder in (root, *root.parents)
                for name in PROJECT_FILE_NAMES
                if (folder / name).is_file()
            ),
            None,
        )
        self._lookups[root] = (now, found)
        return found

    def declared_project(
        self, root: Path | None, open_text: Callable[[Path], str | None] = lambda path: None
    ) -> str | None:
        """The `project:` key of the root's codeforge.yaml; None when there is no file or no key.

        `open_text` gives the editor's buffer of a file that is open (None when it is not).
        Only the key matters here, so a mistake elsewhere in the file (a bad env name) does
        not stop every command; a file that cannot be read at all, or a bad slug, does:
        guessing another project would run the command in the wrong place."""
        if root is None:
            return None
        path = self.project_file(root)
        if path is None:
            return None
        buffer = open_text(path)
        cached = self._cache.get(root)
        if buffer is not None:
            if cached is None or (cached.path, cached.text) != (path, buffer):
                cached = self._parse(path, buffer, -1, -1)
                self._cache[root] = cached
        else:
            try:
                st = os.stat(path)
            except OSError:
                return None
            if cached is None or (cached.path, cached.mtime_ns, cached.size) != (path, st.st_mtime_ns, st.st_size):
                cached = self._read(path, st)
                self._cache[root] = cached
        if cached.error is not None:
            raise cached.error
        return cached.project

    def forget(self, root: Path | None = None) -> None:
        """Drop the cache (the editor saved the file, or the workspace changed)."""
        if root is None:
            self._cache.clear()
            self._lookups.clear()
        else:
            self._cache.pop(root, None)
            self._lookups.pop(root, None)

    @staticmethod
    def _read(path: Path, st: os.stat_result) -> _Cached:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            err = ProjectFileError(
                [FieldProblem("(file)", f"cannot be read ({type(exc).__name__})", "check the file's permissions")],
                path=str(path),
            )
            return _Cached(path, st.st_mtime_ns, st.st_size, None, err)
        cached = ProjectContext._parse(path, text, st.st_mtime_ns, st.st_size)
        return _Cached(path, st.st_mtime_ns, st.st_size, cached.project, cached.error)

    @staticmethod
    def _parse(path: Path, text: str, mtime_ns: int, size: int) -> _Cached:
        def failed(where: str, message: str, fix: str) -> _Cached:
            err = ProjectFileError([FieldProblem(where, message, fix)], path=str(path))
            return _Cached(path, mtime_ns, size, None, err, text)

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else "(file)"
            return failed(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}", "fix the syntax")
        project = data.get("project") if isinstance(data, dict) else None
        if project is None:
            return _Cached(path, mtime_ns, size, None, None, text)
        if not isinstance(project, str) or not _SLUG.match(project):
            return failed("project", "not a project slug", "use lower-case letters, digits and dashes")
        return _Cached(path, mtime_ns, size, project, None, text)
