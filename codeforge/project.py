"""The current project, as the CLI sees it from a folder (the language server uses the same
file model: `codeforge.projectfile`)."""

from __future__ import annotations

import re
from pathlib import Path

from codeforge.config import load_client_config
from codeforge.projectfile import find_project_file, parse_project_file

__all__ = ["current_project", "slugify"]


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug or "default"


def current_project(start: Path) -> str:
    """codeforge.yaml's `project:` (in `start` or a folder above), else the login's project,
    else the folder's name. A broken codeforge.yaml raises ProjectFileError rather than
    quietly acting on another project."""
    for folder in [start, *start.parents]:
        if (path := find_project_file(folder)) is not None:
            declared = parse_project_file(path.read_text(), path=str(path)).project
            if declared:
                return declared
            break
    return load_client_config().project or slugify(start.resolve().name)
