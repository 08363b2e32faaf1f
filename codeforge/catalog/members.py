"""An organization's members and their roles."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from codeforge.catalog.base import Empty, Input, Operation, Permission, Role, declare

__all__ = ["ADD", "LIST", "SET_ROLE", "Member", "MemberAddInput", "MemberList", "MemberSetRoleInput"]


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


ADD = declare(
    Operation(
        name="members.add",
        title="Add a member",
        input=MemberAddInput,
        output=Member,
        permission=Permission.MANAGE,
        target="{username}",
    )
)
LIST = declare(
    Operation(
        name="members.list",
        title="List members",
        input=Empty,
        output=MemberList,
        permission=Permission.VIEW,
    )
)
SET_ROLE = declare(
    Operation(
        name="members.set_role",
        title="Change a member's role",
        input=MemberSetRoleInput,
        output=Member,
        permission=Permission.MANAGE,
        target="{username}",
    )
)
