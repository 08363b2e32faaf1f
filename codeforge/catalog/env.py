"""Project environment variables and secrets."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare
from codeforge.catalog.secrets import SECRET

__all__ = [
    "ENV_NAME_PATTERN",
    "IMPORT",
    "LIST",
    "REVEAL",
    "SET",
    "UNSET",
    "EnvImportInput",
    "EnvImportResult",
    "EnvList",
    "EnvNameInput",
    "EnvSetInput",
    "EnvUnsetResult",
    "EnvValue",
    "EnvVariable",
]

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_NAME = Field(
    pattern=ENV_NAME_PATTERN,
    description="Variable name: letters, digits and underscores, not starting with a digit.",
    # Editors offer the project's variables, and these operations on each one in their views.
    json_schema_extra={"x-codeforge-values": "env.list#name"},
)


class EnvNameInput(ProjectInput):
    name: str = _NAME


class EnvSetInput(EnvNameInput):
    # Secret only with `secret: true`: editors ask `secret` first and then hide the value, or not.
    value: str = Field(
        max_length=65536,
        description="The value.",
        json_schema_extra={"format": "password", "x-codeforge-secret-if": "secret"},
    )
    secret: bool = Field(default=False, description="Encrypted, never listed, readable only with `env reveal`.")


class EnvListInput(ProjectInput):
    pass


class EnvImportInput(ProjectInput):
    content: str = Field(
        max_length=16 * 1024 * 1024,
        description="Text of a .env file: NAME=value lines; # comments and blank lines are skipped.",
        json_schema_extra={"x-codeforge-file": ".env"},
    )
    secret: bool = Field(default=False, description="Store every imported variable as a secret.")
    overwrite: bool = Field(default=True, description="Replace variables that already exist.")


class EnvVariable(BaseModel):
    name: str
    secret: bool
    value: str | None = Field(description="The value; null for secrets (use `env reveal`).")
    updated_at: datetime
    updated_by: str


class EnvList(BaseModel):
    items: list[EnvVariable]


class EnvValue(BaseModel):
    name: str
    value: str = Field(description="The variable's value.", json_schema_extra=SECRET)


class EnvUnsetResult(BaseModel):
    name: str
    removed: bool


class EnvImportResult(BaseModel):
    imported: int
    skipped: int
    names: list[str]


SET = declare(
    Operation(
        name="env.set",
        title="Set an environment variable or secret",
        input=EnvSetInput,
        output=EnvVariable,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
LIST = declare(
    Operation(
        name="env.list",
        title="List environment variables",
        input=EnvListInput,
        output=EnvList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
UNSET = declare(
    Operation(
        name="env.unset",
        title="Remove an environment variable",
        input=EnvNameInput,
        output=EnvUnsetResult,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{name}",
    )
)
REVEAL = declare(
    Operation(
        name="env.reveal",
        title="Reveal a secret's value",
        input=EnvNameInput,
        output=EnvValue,
        permission=Permission.REVEAL,
        target="{project}/{name}",
    )
)
IMPORT = declare(
    Operation(
        name="env.import",
        title="Import variables from a .env file",
        input=EnvImportInput,
        output=EnvImportResult,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}",
    )
)
