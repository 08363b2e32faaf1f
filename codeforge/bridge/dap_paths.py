"""Source paths in DAP messages, between the editor's local folder and the workspace.

DAP names files by path (not URI): `source.path` in breakpoints, stack frames, loaded
sources and modules (`module.path`), and `program`/`cwd` in launch arguments. Every `path`
key at any depth is mapped, so adapter extensions follow too. Paths are compared normalised,
never as string prefixes.

Towards the workspace a path must land inside it: a path under the editor's root maps to
the same place under the workspace, a relative one is taken from the workspace root, and
a path already in the workspace stays, anything else is refused (`PathRefused`, answered
as a DAP error), except a path the proxy itself sent out unmapped (the standard library in a stack frame: the editor may ask for
breakpoints there, and it names a file the debuggee already runs).
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

__all__ = ["PathMap", "PathRefused"]

# Keys whose string value is a path (at any depth); launch/attach arguments add program/cwd.
PATH_KEYS = frozenset({"path"})
LAUNCH_PATH_KEYS = frozenset({"program", "cwd"})


class PathRefused(ValueError):
    """An editor path that does not lie in the workspace."""


def _norm(path: str) -> str:
    return posixpath.normpath(path) if path else path


def _under(path: str, root: str) -> str | None:
    """`path` relative to `root` ("" for the root itself), or None when it is not below it."""
    if path == root:
        return ""
    prefix = root if root.endswith("/") else root + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


class PathMap:
    """Maps one editor's paths; `local_root` None means the editor sees the workspace's own paths."""

    def __init__(self, workspace: Path, local_root: str | None = None) -> None:
        self.workspace = _norm(str(workspace))
        self.local_root = _norm(local_root) if local_root else self.workspace
        self._passed: set[str] = set()  # workspace paths outside it that went to the editor unmapped

    def set_local_root(self, local_root: str | None) -> None:
        if local_root:
            if not posixpath.isabs(local_root):
                raise PathRefused(f"localRoot {local_root!r} is not an absolute path on the editor's machine")
            self.local_root = _norm(local_root)

    def to_workspace(self, path: str) -> str:
        if not isinstance(path, str) or not path:
            return path
        if "\x00" in path:
            raise PathRefused("a path with a NUL byte")
        if not posixpath.isabs(path):
            mapped = _norm(posixpath.join(self.workspace, path))
            if _under(mapped, self.workspace) is None:
                raise PathRefused(f"{path!r} leaves the workspace ({self.workspace})")
            return mapped
        normal = _norm(path)
        if (rel := _under(normal, self.local_root)) is not None:
            return posixpath.join(self.workspace, rel) if rel else self.workspace
        if _under(normal, self.workspace) is not None or normal in self._passed:
            # Already a workspace path (a lens of the language server running beside the
            # workspace names those), or one the proxy sent out unmapped.
            return normal
        raise PathRefused(
            f"{path!r} is outside the workspace: only files under the editor's folder {self.local_root} "
            f"(the workspace {self.workspace} on the bridge) can be debugged"
        )

    def to_editor(self, path: str) -> str:
        if not isinstance(path, str) or not posixpath.isabs(path):
            return path
        normal = _norm(path)
        if (rel := _under(normal, self.workspace)) is not None:
            return posixpath.join(self.local_root, rel) if rel else self.local_root
        self._passed.add(normal)
        return path

    def walk_to_workspace(self, value: Any, keys: frozenset[str] = PATH_KEYS) -> Any:
        """A copy of `value` with every path key mapped (PathRefused on the first bad one)."""
        return _walk(value, keys, self.to_workspace)

    def walk_to_editor(self, value: Any) -> Any:
        return _walk(value, PATH_KEYS, self.to_editor)


def _walk(value: Any, keys: frozenset[str], convert: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (convert(v) if k in keys and isinstance(v, str) else _walk(v, PATH_KEYS, convert))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_walk(item, PATH_KEYS, convert) for item in value]
    return value
