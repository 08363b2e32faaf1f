"""Who the caller is."""

from __future__ import annotations

from pydantic import BaseModel

from codeforge.catalog.base import Empty, Operation, Permission, Role, declare

__all__ = ["WHOAMI", "WhoAmI"]


class WhoAmI(BaseModel):
    username: str
    role: Role
    organization: str
    token_name: str
    permissions: list[str]


WHOAMI = declare(
    Operation(
        name="auth.whoami",
        title="Show who you are signed in as",
        input=Empty,
        output=WhoAmI,
        permission=Permission.VIEW,
    )
)
