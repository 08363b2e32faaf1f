"""Where a deployed stack frame's file is in the project: the path the running program saw
(/srv/api/shop/cart.py, com/x/Y.java) to a project-relative path (services/api/shop/cart.py,
src/main/java/com/x/Y.java).

Pure (no platform imports): the language server imports it to put production errors at the
right line. An explicit prefix of codeforge.yaml's `monitoring.paths` wins; otherwise the
project file sharing the longest run of trailing path components with the deployed path."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping

__all__ = ["PathMapper", "map_path"]


def _clean(path: str) -> str:
    return path.replace("\\", "/").removeprefix("file://")


def _under(path: str, prefix: str) -> str | None:
    """The rest of `path` below `prefix` on a component boundary (/app matches /app/x, not
    /application/x), or None."""
    prefix = prefix.rstrip("/")
    if not prefix:
        return path.lstrip("/") if path.startswith("/") else None
    if path == prefix:
        return ""
    if path.startswith(prefix + "/"):
        return path[len(prefix) + 1 :]
    return None


class PathMapper:
    """One project's mapping, with its files indexed by name; reuse it for many frames."""

    def __init__(self, mapping: Mapping[str, str] | None = None, files: Iterable[str] | None = None) -> None:
        # Longest prefix first, so {"/app": ".", "/app/vendor": "third_party"} picks the deeper one.
        self.mapping = sorted(((_clean(k), v) for k, v in (mapping or {}).items()), key=lambda kv: -len(kv[0]))
        self.files = {posixpath.normpath(_clean(f)).lstrip("/") for f in files or ()}
        self._by_name: dict[str, list[list[str]]] = {}
        for file in self.files:
            parts = file.split("/")
            self._by_name.setdefault(parts[-1], []).append(parts)

    def map(self, deployed: str) -> str | None:
        """The project-relative path of `deployed`, or None when neither a prefix of the
        mapping nor a project file accounts for it."""
        path = _clean(deployed)
        if not path or path.startswith("<"):
            return None
        for prefix, folder in self.mapping:
            rest = _under(path, prefix)
            if rest is not None:
                mapped = posixpath.normpath(posixpath.join(folder, rest)) if rest else posixpath.normpath(folder)
                return None if mapped == ".." or mapped.startswith(("../", "/")) else mapped
        return self._by_suffix(path)

    def _by_suffix(self, path: str) -> str | None:
        parts = [p for p in path.split("/") if p and p != "."]
        if not parts:
            return None
        best: tuple[int, int, int, str] | None = None  # (shared, whole file, -length, path)
        for candidate in self._by_name.get(parts[-1], ()):
            shared = 0
            while shared < min(len(parts), len(candidate)) and parts[-1 - shared] == candidate[-1 - shared]:
                shared += 1
            # More shared components wins; at a tie, a file matched whole (the deployed path
            # ends with it), then the shorter path.
            key = (shared, int(shared == len(candidate)), -len(candidate), "/".join(candidate))
            if best is None or key[:3] > best[:3] or (key[:3] == best[:3] and key[3] < best[3]):
                best = key
        return best[3] if best is not None else None


def map_path(deployed: str, mapping: Mapping[str, str] | None = None, files: Iterable[str] | None = None) -> str | None:
    """`PathMapper(mapping, files).map(deployed)` for a single path."""
    return PathMapper(mapping, files).map(deployed)
