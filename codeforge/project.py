"""The current project, as the CLI and the language server see it from a folder."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from codeforge.config import load_client_config

__all__ = ["PROJECT_FILE", "current_project", "find_project_file", "slugify"]

PROJECT_FILE = "codeforge.yaml"


def find_project_file(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug or "default"


def current_project(start: Path) -> str:
    """codeforge.yaml's `project:`, else the login's project, else the folder's name."""
    path = find_project_file(start)
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("project"), str) and data["project"]:
            return str(data["project"])
    return load_client_config().project or slugify(start.resolve().name)
