"""Project environment variables and secrets, shared by every deployment environment or
overridden for one of them (production, preview, development)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from codeforge.catalog.base import CONTEXT_KEY, Operation, Permission, ProjectInput, declare
from codeforge.catalog.secrets import SECRET

__all__ = [
    "DIFF",
    "ENVIRONMENTS",
    "ENV_NAME_PATTERN",
    "IMPORT",
    "LIST",
    "REVEAL",
    "SET",
    "UNSET",
    "EnvChange",
    "EnvDiff",
    "EnvDiffInput",
    "EnvEnvironment",
    "EnvImportInput",
    "EnvImportResult",
    "EnvList",
    "EnvListInput",
    "EnvNameInput",
    "EnvRevealInput",
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


class EnvEnvironment(StrEnum):
    """Where a value applies: `all` is the shared value every environment gets unless it has
    its own; the others are one deployment environment's override."""

    ALL = "all"
    PRODUCTION = "production"
    PREVIEW = "preview"
    DEVELOPMENT = "development"


# The deployment environments, each of which may override a shared value.
ENVIRONMENTS = (EnvEnvironment.PRODUCTION, EnvEnvironment.PREVIEW, EnvEnvironment.DEVELOPMENT)

# The existing operations take `environment` as a field clients may fill from their context
# (none does yet): editors' prompts do not ask it, so every palette, code action and script
# of before works unchanged and acts on the shared values. The CLI has `--environment`, LSP
# commands and MCP tools take it as an argument. Left out (null) it means `all`, and `all`
# is stored as null too, so the audit target stays `project/NAME` for shared values and
# reads `project/NAME production` for an override.
_SCOPE: dict[str, Any] = {CONTEXT_KEY: "environment"}


def _scope_field(description: str) -> Any:
    return Field(default=None, description=description, json_schema_extra=_SCOPE)


class _Scoped(ProjectInput):
    environment: EnvEnvironment | None = _scope_field(
        "Which values: `all` (the default: the shared values), or production, preview or "
        "development (that environment's own values, which override the shared ones)."
    )

    @field_validator("environment")
    @classmethod
    def _all_is_default(cls, value: EnvEnvironment | None) -> EnvEnvironment | None:
        return None if value == EnvEnvironment.ALL else value

    @property
    def scope(self) -> EnvEnvironment:
        """The environment asked for, `all` when none was."""
        return self.environment or EnvEnvironment.ALL


class EnvNameInput(_Scoped):
    name: str = _NAME


class EnvSetInput(EnvNameInput):
    # Secret only with `secret: true`: editors ask `secret` first and then hide the value, or not.
    value: str = Field(
        max_length=65536,
        description="The value.",
        json_schema_extra={"format": "password", "x-codeforge-secret-if": "secret"},
    )
    secret: bool = Field(default=False, description="Encrypted, never listed, readable only with `env reveal`.")


class EnvRevealInput(EnvNameInput):
    environment: EnvEnvironment | None = _scope_field(
        "Whose value: `all` (the default: the shared value), or production, preview or development "
        "(the value that environment gets: its own, else the shared one)."
    )


class EnvListInput(_Scoped):
    environment: EnvEnvironment | None = _scope_field(
        "`all` (the default): the shared values, and which names each environment overrides; "
        "production, preview or development: what that environment gets, its own values over "
        "the shared ones, each saying where it comes from."
    )


class EnvImportInput(_Scoped):
    content: str = Field(
        max_length=16 * 1024 * 1024,
        description="Text of a .env file: NAME=value lines; # comments and blank lines are skipped.",
        json_schema_extra={"x-codeforge-file": ".env"},
    )
    secret: bool = Field(default=False, description="Store every imported variable as a secret.")
    overwrite: bool = Field(default=True, description="Replace variables that already exist.")
    environment: EnvEnvironment | None = _scope_field(
        "Import as `all` (the default: shared values), or as production's, preview's or development's own."
    )


class EnvDiffInput(ProjectInput):
    environment: EnvEnvironment = Field(
        title="Environment",
        description="The environment whose variables now are compared: what it gets (its own values "
        "over the shared ones); `all`: the shared values alone.",
    )
    against: EnvEnvironment | None = Field(
        default=None,
        title="Against",
        description="Another environment: what would change if `environment` got its variables. "
        "Give this or `content`.",
    )
    content: str | None = Field(
        default=None,
        max_length=16 * 1024 * 1024,
        description="A proposed set, as the text of a .env file (NAME=value lines): what would change "
        "if `environment` got exactly these variables. Give this or `against`.",
        json_schema_extra={"x-codeforge-file": ".env"},
    )
    partial: bool = Field(
        default=False,
        description="Compare only the names `content` has (what `env import` would change); "
        "without it, names `content` lacks are listed as removed.",
    )
    secret: bool = Field(default=False, description="The proposed values are secrets: show none of them.")


class EnvVariable(BaseModel):
    name: str
    secret: bool
    value: str | None = Field(description="The value; null for secrets (use `env reveal`).")
    updated_at: datetime
    updated_by: str
    environment: EnvEnvironment = Field(
        default=EnvEnvironment.ALL,
        description="Where the value comes from: `all` (shared), or the environment that has its own.",
    )


class EnvList(BaseModel):
    items: list[EnvVariable]
    environment: EnvEnvironment = Field(
        default=EnvEnvironment.ALL, description="The environment listed; `all`: the shared values."
    )
    overrides: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Listing `all`: the names each environment has its own value for "
        "(list that environment to see them).",
    )


class EnvValue(BaseModel):
    name: str
    value: str = Field(description="The variable's value.", json_schema_extra=SECRET)
    environment: EnvEnvironment = Field(
        default=EnvEnvironment.ALL,
        description="Where the value comes from: `all` (shared), or the environment that has its own.",
    )


class EnvUnsetResult(BaseModel):
    name: str
    removed: bool


class EnvImportResult(BaseModel):
    imported: int
    skipped: int
    names: list[str]


class EnvChange(BaseModel):
    name: str
    change: str = Field(description="added, removed or changed.")
    secret: bool = Field(description="Secret on either side: no value is shown, a change only says so.")
    before: str | None = Field(default=None, description="The value now; only for a plain value that changes.")
    after: str | None = Field(default=None, description="The value it would get; only for plain values.")


class EnvDiff(BaseModel):
    environment: str = Field(description="What is compared: an environment's variables now.")
    against: str = Field(description="What it is compared with: another environment, or `proposed`.")
    added: list[EnvChange] = Field(description="Names it would get.")
    removed: list[EnvChange] = Field(description="Names it would lose.")
    changed: list[EnvChange] = Field(description="Names whose value would change.")
    unchanged: list[str] = Field(description="Names that stay as they are.")
    unchecked: list[str] = Field(
        default_factory=list,
        description="Secrets whose values were not compared with a proposed value: that needs the "
        "`reveal` permission (it would tell a guess right or wrong).",
    )
    text: str = Field(description="The difference as lines: + added, - removed, ~ changed.")


SET = declare(
    Operation(
        name="env.set",
        title="Set an environment variable or secret",
        input=EnvSetInput,
        output=EnvVariable,
        permission=Permission.EDIT,
        target="{project}/{name} {environment}",
    )
)
LIST = declare(
    Operation(
        name="env.list",
        title="List environment variables",
        input=EnvListInput,
        output=EnvList,
        permission=Permission.VIEW,
        target="{project} {environment}",
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
        target="{project}/{name} {environment}",
    )
)
REVEAL = declare(
    Operation(
        name="env.reveal",
        title="Reveal a secret's value",
        input=EnvRevealInput,
        output=EnvValue,
        permission=Permission.REVEAL,
        target="{project}/{name} {environment}",
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
        target="{project} {environment}",
    )
)
DIFF = declare(
    Operation(
        name="env.diff",
        title="Compare an environment's variables with another's or a .env file",
        input=EnvDiffInput,
        output=EnvDiff,
        permission=Permission.VIEW,
        target="{project} {environment}",
    )
)
