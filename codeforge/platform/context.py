"""What a service function gets: the unit of work, who is acting, and the platform's tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from codeforge.catalog import ROLE_PERMISSIONS, Permission, Role
from codeforge.platform.auth.models import Project
from codeforge.platform.crypto import Cipher
from codeforge.platform.settings import Settings

if TYPE_CHECKING:
    from codeforge.platform.jobs.runner import JobReporter, JobRunner

__all__ = ["Actor", "Context"]


@dataclass(frozen=True)
class Actor:
    """The member behind a request, as its token says."""

    user_id: str
    username: str
    org_id: str
    org_slug: str
    role: Role
    token_id: str = ""
    token_name: str = ""
    source: str = ""  # client address, for the audit log
    # The token's last_used_at is due a write, left to the caller (`touch_token`): sign-in
    # inside an operation's unit of work writes nothing before the operation has run.
    touch_due: bool = False
    # The project the request names (slug, and the row or None when the organization has
    # none of that name), found with the token in one query (`authenticate(project=…)`).
    named_project: tuple[str, Project | None] | None = field(default=None, repr=False, compare=False)

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


@dataclass
class Context:
    session: Session
    actor: Actor
    settings: Settings
    cipher: Cipher
    project: Project | None = None
    job: JobReporter | None = field(default=None)
    runner: JobRunner | None = field(default=None)

    def require_project(self) -> Project:
        if self.project is None:  # the dispatcher resolves it for project-scoped operations
            raise RuntimeError("this operation is not project-scoped")
        return self.project
