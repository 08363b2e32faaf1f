"""The current project, as the CLI sees it from a folder (the language server uses the same
file model: `codeforge.projectfile`)."""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path

from codeforge.config import load_client_config
from codeforge.projectfile import ProjectFile, find_project_file, parse_project_file

__all__ = ["current_project", "project_file_model", "slugify"]

log = logging.getLogger(__name__)


@cache
def project_file_model() -> type[ProjectFile]:
    """codeforge.yaml's model with the sections of every capability, those from outside this
    package too (CODEFORGE_CAPABILITIES, entry points): a file that uses one is not refused.
    Only manifests are read, as the language server does."""
    from codeforge.platform.registry import discover_capabilities
    from codeforge.platform.registry import project_file_model as with_sections
    from codeforge.platform.settings import Settings

    try:
        return with_sections(discover_capabilities(Settings().capability_packages))  # type: ignore[return-value]
    except (ImportError, RuntimeError, ValueError) as exc:
        log.warning("capability sections of codeforge.yaml not loaded: %s", exc)
        return ProjectFile


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug or "default"


def current_project(start: Path) -> str:
    """codeforge.yaml's `project:` (in `start` or a folder above), else the login's project,
    else the folder's name. A broken codeforge.yaml raises ProjectFileError rather than
    quietly acting on another project."""
    for folder in [start, *start.parents]:
        if (path := find_project_file(folder)) is not None:
            declared = parse_project_file(path.read_text(), path=str(path), model=project_file_model()).project
            if declared:
                return declared
            break
    return load_client_config().project or slugify(start.resolve().name)
