"""Where on the platform host operations may read or make things.

An operation that takes a path (`engines.register` `data_dir`, `migrations.*` `path`) is
confined to folders the operator chose, so that nobody with a token can probe or write the
host's filesystem through it: the platform's data dir, the projects' folder
(`CODEFORGE_PROJECTS_ROOT`; `codeforge up` sets it to the folder it runs for) and, for
engines' data, the storage roots (`CODEFORGE_STORAGE_ROOTS`, e.g. a btrfs mount)."""

from __future__ import annotations

import os
from pathlib import Path

from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.platform.settings import Settings

__all__ = ["confine", "data_dir_roots", "migration_roots"]


def data_dir_roots(settings: Settings) -> list[Path]:
    extra = [Path(p) for p in settings.storage_roots.split(os.pathsep) if p.strip()]
    return [settings.data_dir, *extra]


def migration_roots(settings: Settings) -> list[Path]:
    return [r for r in (settings.projects_root, settings.data_dir) if r is not None]


def confine(value: str, roots: list[Path], *, field: str, base: Path | None = None) -> Path:
    """`value` as a real path (symbolic links resolved) inside one of `roots`, else a 4xx
    naming `field`. The answer is the same whether or not the path exists, so it tells
    nothing about the host's files outside the roots."""
    path = Path(value)
    if not path.is_absolute():
        if base is None:
            raise BadInput(
                f"{field} must be an absolute path",
                errors=[FieldProblem(field, "is relative", "give an absolute path")],
            )
        path = base / path
    resolved = Path(os.path.realpath(path))
    allowed = [os.path.realpath(r) for r in roots]
    if not any(resolved.is_relative_to(r) for r in allowed):
        raise BadInput(
            f"{field} is outside the folders this platform may use",
            errors=[
                FieldProblem(
                    field,
                    "outside the allowed folders",
                    "use a path under " + " or ".join(allowed) + " (an operator widens this with "
                    "CODEFORGE_PROJECTS_ROOT or CODEFORGE_STORAGE_ROOTS)",
                )
            ],
        )
    return resolved
