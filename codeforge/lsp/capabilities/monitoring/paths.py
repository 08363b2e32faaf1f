"""Where a deployed program's file is in the project: the path a stack frame reports
(`/srv/app/shop/orders.py`, `C:\\app\\orders.py`, `shop/orders.py`) mapped to a file of the
project folder (the one codeforge.yaml is in), as docs/monitoring.md says:

1. codeforge.yaml's `monitoring.paths` (deployed prefix → project folder): the longest prefix
   that matches whole path components wins, and the rest of the path goes under its folder;
2. else the longest suffix of the deployed path that names a project file
   (`srv/app/shop/orders.py`, then `app/shop/orders.py`, then `shop/orders.py`, …).

A frame that maps to no file of the project, or would leave the project folder (`..`), maps
to None: it gets no diagnostic. Pure: the file system is asked through `is_file`, so the
errors part can use the same rules where it has a project's file list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

__all__ = ["deployed_parts", "file_checker", "map_deployed_path"]


def deployed_parts(deployed: str) -> list[str]:
    """A deployed path's components, whatever its system wrote (`\\` or `/`, a drive letter,
    `./`); empty for a path a program made up (`<string>`, `<frozen runpy>`)."""
    text = deployed.strip().replace("\\", "/")
    if not text or text.startswith("<"):
        return []
    if text.startswith("file://"):
        text = text[len("file://") :]
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if parts and len(parts[0]) == 2 and parts[0][1] == ":":  # C:
        parts = parts[1:]
    return parts


def _inside(parts: list[str]) -> bool:
    return bool(parts) and ".." not in parts


def _prefix_parts(prefix: str) -> list[str]:
    return deployed_parts(prefix)


def map_deployed_path(
    deployed: str,
    *,
    prefixes: Mapping[str, str] | None = None,
    is_file: Callable[[str], bool],
) -> str | None:
    """The project-relative path (forward slashes) of the deployed file, or None.
    `is_file(relative)` says whether the project has that file."""
    parts = deployed_parts(deployed)
    if not parts:
        return None
    best: tuple[int, str] | None = None
    for prefix, folder in (prefixes or {}).items():
        head = _prefix_parts(prefix)
        if head and parts[: len(head)] == head and len(parts) > len(head) and (best is None or len(head) > best[0]):
            best = (len(head), folder)
    if best is not None:
        base = [p for p in PurePosixPath(best[1].replace("\\", "/")).parts if p not in ("", ".", "/")]
        candidate = base + parts[best[0] :]
        if _inside(candidate) and is_file("/".join(candidate)):
            return "/".join(candidate)
    for start in range(len(parts)):
        suffix = parts[start:]
        if _inside(suffix) and is_file("/".join(suffix)):
            return "/".join(suffix)
    return None


def file_checker(root: Path) -> Callable[[str], bool]:
    """`is_file` for a project folder on disk (results kept: one refresh asks each path once)."""
    known: dict[str, bool] = {}
    resolved_root = root.resolve()

    def is_file(relative: str) -> bool:
        if relative not in known:
            path = (root / relative).resolve()
            known[relative] = path.is_relative_to(resolved_root) and path.is_file()
        return known[relative]

    return is_file
