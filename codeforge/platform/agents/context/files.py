"""Which files of a workspace the map covers, and their text.

A file is in when git would track it: `.gitignore` files (at any depth, through `pathspec`'s
git semantics) and `.git/info/exclude` are honoured, and folders no one edits by hand (`.git`,
virtual environments, `node_modules`, caches) are never entered. Binary files (a NUL byte, or
not UTF-8) and huge ones are left out: they hold no symbols and would only slow the map."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

__all__ = [
    "LANGUAGES",
    "MAX_FILE_BYTES",
    "IgnoreRules",
    "language_of",
    "read_text",
    "walk",
]

MAX_FILE_BYTES = 1_000_000
# Never entered: version control, dependencies and caches (their own .gitignore may be absent).
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        ".hypothesis",
        ".idea",
        ".direnv",
    }
)

# Extension → tree-sitter language name (Python is parsed with `ast`, tree-sitter only as the
# fallback for a file with a syntax error).
LANGUAGES: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
}


def language_of(path: str) -> str | None:
    """The language of a workspace-relative path, None for files the map does not parse."""
    return LANGUAGES.get(os.path.splitext(path)[1].lower())


@dataclass
class _Rules:
    base: str  # workspace-relative folder the patterns are relative to ("" for the root)
    spec: GitIgnoreSpec


class IgnoreRules:
    """The .gitignore files of a workspace, each applied below its own folder as git does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[str, GitIgnoreSpec | None] = {}

    def _spec(self, folder: str) -> GitIgnoreSpec | None:
        if folder not in self._specs:
            lines: list[str] = []
            sources = [self.root / folder / ".gitignore"]
            if folder == "":
                sources.append(self.root / ".git" / "info" / "exclude")
            for source in sources:
                try:
                    lines += source.read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:
                    continue
            self._specs[folder] = GitIgnoreSpec.from_lines(lines) if lines else None
        return self._specs[folder]

    def forget(self, folder: str) -> None:
        """Drop a folder's cached rules (its .gitignore changed)."""
        self._specs.pop(folder, None)

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """Whether git would ignore the workspace-relative path (rules of every folder above it)."""
        parts = rel.split("/")
        if any(part in SKIP_DIRS for part in (parts if is_dir else parts[:-1])):
            return True
        # A path inside an ignored folder is ignored whatever its own patterns say (as in git).
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if self._ignored_here(folder, True) or _is_virtualenv(self.root / folder):
                return True
        return self._ignored_here(rel, is_dir)

    def _ignored_here(self, rel: str, is_dir: bool) -> bool:
        parts = rel.split("/")
        if is_dir and parts[-1] in SKIP_DIRS:
            return True
        ignored = False
        for depth in range(len(parts)):
            folder = "/".join(parts[:depth])
            spec = self._spec(folder)
            if spec is None:
                continue
            sub = "/".join(parts[depth:]) + ("/" if is_dir else "")
            # The deepest .gitignore that decides wins, as in git.
            result = spec.check_file(sub).include
            if result is not None:
                ignored = result
        return ignored


def _is_virtualenv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file()


def walk(root: Path, rules: IgnoreRules, start: str = "") -> Iterator[str]:
    """Workspace-relative paths (forward slashes) of the files the map covers, below `start`."""
    stack = [start]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(root / folder if folder else root))
        except OSError:  # unreadable or vanished folder: nothing below it
            continue
        for entry in sorted(entries, key=lambda e: e.name):
            rel = f"{folder}/{entry.name}" if folder else entry.name
            try:
                if entry.is_symlink():
                    continue  # a link may leave the workspace or loop
                if entry.is_dir():
                    if entry.name in SKIP_DIRS or _is_virtualenv(Path(entry.path)):
                        continue
                    if not rules._ignored_here(rel, True):
                        stack.append(rel)
                elif entry.is_file() and not rules._ignored_here(rel, False):
                    yield rel
            except OSError:
                continue


def read_text(path: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[str | None, str]:
    """The file's text, or None and why it is left out (missing, unreadable, huge, binary)."""
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or exc}"
    if len(data) > max_bytes:
        return None, f"larger than {max_bytes} bytes"
    if b"\0" in data[:8192]:
        return None, "binary"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, "binary (not UTF-8)"
