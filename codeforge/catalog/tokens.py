"""API tokens: issued per member, stored hashed, expiring and revocable."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from codeforge.catalog.base import Empty, Input, Operation, Permission, declare
from codeforge.catalog.secrets import SECRET

__all__ = ["CREATE", "LIST", "REVOKE", "Token", "TokenCreateInput", "TokenCreated", "TokenList", "TokenRevokeInput"]


class TokenCreateInput(Input):
    name: str = Field(min_length=1, max_length=100, description="What the token is for.")
    expires_in_days: int | None = Field(default=90, ge=1, le=3650, description="Days until it expires; null for never.")
    username: str | None = Field(
        default=None, description="Member to issue it for (needs manage permission); yourself if empty."
    )


class TokenCreated(BaseModel):
    id: str
    name: str
    token: str = Field(
        description="Shown once: store it now, the platform keeps only its hash.", json_schema_extra=SECRET
    )
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


CREATE = declare(
    Operation(
        name="tokens.create",
        title="Create an API token",
        input=TokenCreateInput,
        output=TokenCreated,
        permission=Permission.VIEW,
        # For another member the target names them: an admin action the audit log shows.
        target="{username}/{name}",
    )
)
LIST = declare(
    Operation(
        name="tokens.list",
        title="List API tokens",
        input=Empty,
        output=TokenList,
        permission=Permission.VIEW,
    )
)
REVOKE = declare(
    Operation(
        name="tokens.revoke",
        title="Revoke an API token",
        input=TokenRevokeInput,
        output=Token,
        permission=Permission.VIEW,
        destructive=True,
        target="{id}",
    )
)
