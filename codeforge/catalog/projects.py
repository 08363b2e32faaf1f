"""An organization's projects."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from codeforge.catalog.base import Empty, Input, Operation, Permission, declare

__all__ = [
    "CREATE",
    "DELETE",
    "LIST",
    "SLUG_PATTERN",
    "Project",
    "ProjectCreateInput",
    "ProjectList",
    "ProjectSlugInput",
]

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class ProjectCreateInput(Input):
    slug: str = Field(pattern=SLUG_PATTERN, description="Lower-case letters, digits and dashes.")
    name: str = Field(default="", max_length=200, description="Display name (defaults to the slug).")


class ProjectSlugInput(Input):
    slug: str = Field(pattern=SLUG_PATTERN, description="Project slug.")


class Project(BaseModel):
    slug: str
    name: str
    created_at: datetime


class ProjectList(BaseModel):
    items: list[Project]


CREATE = declare(
    Operation(
        name="projects.create",
        title="Create a project",
        input=ProjectCreateInput,
        output=Project,
        permission=Permission.MANAGE,
        target="{slug}",
    )
)
LIST = declare(
    Operation(
        name="projects.list",
        title="List projects",
        input=Empty,
        output=ProjectList,
        permission=Permission.VIEW,
    )
)
DELETE = declare(
    Operation(
        name="projects.delete",
        title="Delete a project and everything in it",
        input=ProjectSlugInput,
        output=Project,
        permission=Permission.MANAGE,
        destructive=True,
        target="{slug}",
    )
)
