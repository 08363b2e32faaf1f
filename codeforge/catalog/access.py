"""Organizations' projects, members, API tokens and audit log."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from codeforge.catalog.base import Input, Operation, Permission, Role, declare

__all__ = [
    "SLUG_PATTERN",
    "AuditList",
    "AuditListInput",
    "AuditRecord",
    "Member",
    "MemberAddInput",
    "MemberList",
    "Project",
    "ProjectCreateInput",
    "ProjectList",
    "Token",
    "TokenCreateInput",
    "TokenCreated",
    "TokenList",
    "TokenRevokeInput",
    "WhoAmI",
]

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class Empty(Input):
    """No input."""


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


class MemberAddInput(Input):
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", description="Login name, unique in the platform.")
    role: Role = Field(default=Role.DEVELOPER, description="What the member may do.")


class MemberSetRoleInput(Input):
    username: str = Field(min_length=1, description="Member's login name.")
    role: Role


class Member(BaseModel):
    username: str
    role: Role
    created_at: datetime


class MemberList(BaseModel):
    items: list[Member]


class WhoAmI(BaseModel):
    username: str
    role: Role
    organization: str
    token_name: str
    permissions: list[str]


class TokenCreateInput(Input):
    name: str = Field(min_length=1, max_length=100, description="What the token is for.")
    expires_in_days: int | None = Field(default=90, ge=1, le=3650, description="Days until it expires; null for never.")
    username: str | None = Field(
        default=None, description="Member to issue it for (needs manage permission); yourself if empty."
    )


class TokenCreated(BaseModel):
    id: str
    name: str
    token: str = Field(description="Shown once: store it now, the platform keeps only its hash.")
    expires_at: datetime | None


class Token(BaseModel):
    id: str
    name: str
    username: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    last_used_at: datetime | None


class TokenList(BaseModel):
    items: list[Token]


class TokenRevokeInput(Input):
    id: str = Field(min_length=1, description="Token id, from `tokens list`.")


class AuditListInput(Input):
    limit: int = Field(default=100, ge=1, le=1000)
    operation: str | None = Field(default=None, description="Only this operation, e.g. env.reveal.")
    actor: str | None = Field(default=None, description="Only this member.")


class AuditRecord(BaseModel):
    time: datetime
    actor: str
    operation: str
    target: str
    outcome: str
    source: str


class AuditList(BaseModel):
    items: list[AuditRecord]


WHOAMI = declare(Operation("auth.whoami", "Show who you are signed in as", Empty, WhoAmI, Permission.VIEW))
PROJECTS_CREATE = declare(
    Operation("projects.create", "Create a project", ProjectCreateInput, Project, Permission.MANAGE, target="{slug}")
)
PROJECTS_LIST = declare(Operation("projects.list", "List projects", Empty, ProjectList, Permission.VIEW))
PROJECTS_DELETE = declare(
    Operation(
        "projects.delete",
        "Delete a project and everything in it",
        ProjectSlugInput,
        Project,
        Permission.MANAGE,
        destructive=True,
        target="{slug}",
    )
)
MEMBERS_ADD = declare(
    Operation("members.add", "Add a member", MemberAddInput, Member, Permission.MANAGE, target="{username}")
)
MEMBERS_LIST = declare(Operation("members.list", "List members", Empty, MemberList, Permission.VIEW))
MEMBERS_SET_ROLE = declare(
    Operation(
        "members.set_role",
        "Change a member's role",
        MemberSetRoleInput,
        Member,
        Permission.MANAGE,
        target="{username}",
    )
)
TOKENS_CREATE = declare(
    Operation("tokens.create", "Create an API token", TokenCreateInput, TokenCreated, Permission.VIEW, target="{name}")
)
TOKENS_LIST = declare(Operation("tokens.list", "List API tokens", Empty, TokenList, Permission.VIEW))
TOKENS_REVOKE = declare(
    Operation(
        "tokens.revoke",
        "Revoke an API token",
        TokenRevokeInput,
        Token,
        Permission.VIEW,
        destructive=True,
        target="{id}",
    )
)
AUDIT_LIST = declare(Operation("audit.list", "Read the audit log", AuditListInput, AuditList, Permission.AUDIT))
