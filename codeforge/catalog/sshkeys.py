"""SSH public keys of a member: what `ssh`, scp, rsync and JetBrains Gateway log in with.

A key belongs to the member who added it and serves only them: a bridge's SSH server accepts a
key only when it is one of the keys of the member whose platform token opened the tunnel.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from codeforge.catalog.base import Empty, Input, Operation, Permission, declare

__all__ = [
    "ADD",
    "KEY_NAME_PATTERN",
    "LIST",
    "REMOVE",
    "SshKey",
    "SshKeyAddInput",
    "SshKeyList",
    "SshKeyNameInput",
]

KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$"


class SshKeyAddInput(Input):
    public_key: str = Field(
        min_length=1,
        max_length=16384,
        description=(
            "The OpenSSH public key, one line as in ~/.ssh/id_ed25519.pub: `ssh-ed25519 AAAA… comment`. "
            "Never the private key."
        ),
        json_schema_extra={"x-codeforge-file": ".pub"},
    )
    name: str = Field(
        default="",
        pattern=r"^(?:" + KEY_NAME_PATTERN[1:-1] + r")?$",
        description="A name for the key (letters, digits, . _ @ + -); the key's comment if empty.",
    )


class SshKeyNameInput(Input):
    name: str = Field(
        pattern=KEY_NAME_PATTERN,
        description="Name of one of your SSH keys.",
        json_schema_extra={"x-codeforge-values": "sshkeys.list#name"},
    )


class SshKey(BaseModel):
    name: str
    key_type: str = Field(description="The key's algorithm, e.g. ssh-ed25519.")
    fingerprint: str = Field(description="SHA256 fingerprint, as `ssh-keygen -l` prints it.")
    public_key: str = Field(description="The key as one OpenSSH line, without its comment.")
    created_at: datetime


class SshKeyList(BaseModel):
    items: list[SshKey]


ADD = declare(
    Operation(
        name="sshkeys.add",
        title="Add an SSH public key",
        input=SshKeyAddInput,
        output=SshKey,
        # Every member manages their own keys, as their own tokens: VIEW is the least a member has.
        permission=Permission.VIEW,
        target="{name}",
    )
)
LIST = declare(
    Operation(
        name="sshkeys.list",
        title="List your SSH public keys",
        input=Empty,
        output=SshKeyList,
        permission=Permission.VIEW,
    )
)
REMOVE = declare(
    Operation(
        name="sshkeys.remove",
        title="Remove an SSH public key",
        input=SshKeyNameInput,
        output=SshKey,
        permission=Permission.VIEW,
        destructive=True,
        target="{name}",
    )
)
