"""The shape of an operation declaration, and the registry that holds them.

An operation is declared once, as data. The platform implements it, the HTTP client
calls it, the CLI and the language server expose it, all from the same object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from codeforge.catalog import secrets
from codeforge.catalog.prompts import input_fields

__all__ = [
    "CATALOG",
    "CONTEXT_KEY",
    "ROLE_PERMISSIONS",
    "Empty",
    "Input",
    "JobRef",
    "Operation",
    "Permission",
    "ProjectInput",
    "Role",
    "declare",
    "operation",
    "optional_pattern",
]

# Schema key marking a field that clients fill from their context (the current project).
CONTEXT_KEY = "x-codeforge-context"

_NAME = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")


class Permission(StrEnum):
    VIEW = "view"  # read resources of a project
    EDIT = "edit"  # change resources of a project
    REVEAL = "reveal"  # read secret values
    MANAGE = "manage"  # projects, members, tokens of the organization
    AUDIT = "audit"  # read the audit log
    OWN = "own"  # grant ownership


class Role(StrEnum):
    VIEWER = "viewer"
    DEVELOPER = "developer"
    ADMIN = "admin"
    OWNER = "owner"


_VIEWER = frozenset({Permission.VIEW})
_DEVELOPER = _VIEWER | {Permission.EDIT, Permission.REVEAL}
_ADMIN = _DEVELOPER | {Permission.MANAGE, Permission.AUDIT}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.DEVELOPER: _DEVELOPER,
    Role.ADMIN: _ADMIN,
    Role.OWNER: _ADMIN | {Permission.OWN},
}


def optional_pattern(pattern: str) -> str:
    """The same anchored pattern, or empty (for optional string fields)."""
    return "^(?:" + pattern[1:-1] + ")?$"


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nul(v) for v in value)
    return False


class Input(BaseModel):
    """Base of every operation input: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        """No text may hold a NUL character, at any depth (nested models, list items, keys):
        PostgreSQL cannot store it, file names cannot hold it, and it can cut a value short
        in C code along the way. Checked raw, before any field's own validation."""
        if _holds_nul(value):
            raise PydanticCustomError("nul_character", "contains a NUL character (\\u0000)")
        return value


class Empty(Input):
    """No input."""


class ProjectInput(Input):
    """Input of an operation that acts inside one project of the caller's organization."""

    project: str = Field(
        description="Project slug; editors and the CLI fill it from codeforge.yaml or the login.",
        min_length=1,
        max_length=63,
        json_schema_extra={CONTEXT_KEY: "project"},
    )


class JobRef(BaseModel):
    """What a long-running operation returns at once: the job that carries it out."""

    job_id: str
    operation: str
    state: str
    events_url: str


In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


@dataclass(frozen=True)
class Operation(Generic[In, Out]):
    """One platform operation, declared as data."""

    name: str  # "<capability>.<verb>", e.g. "databases.branch"
    title: str  # one line, imperative: "Branch a database"
    input: type[In]
    output: type[Out]
    permission: Permission
    long_running: bool = False
    destructive: bool = False  # editors ask for confirmation first
    # Which input fields name the operation's target, for the audit log ("{project}/{name}").
    target: str = ""
    # False for a heartbeat a machine calls every few seconds (bridges.report): its successes
    # leave no audit record, so they do not bury people's actions; refusals and failures do.
    audit_success: bool = True
    # False for an operation people do not run themselves: a machine calls it (collab.admit, on
    # every websocket) or a language-server command of its own wraps it. It keeps its route,
    # its CLI command and its LSP command, but editors' palettes (the catalog they are given)
    # leave it out.
    palette: bool = True

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"operation name {self.name!r} must look like 'capability.verb'")

    @property
    def capability(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def verb(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def command(self) -> str:
        """The LSP command that runs this operation."""
        return f"codeforge.{self.name}"

    @property
    def path(self) -> str:
        """The REST route, relative to the API root."""
        return f"/{self.capability}/{self.verb}"

    @property
    def lists_resources(self) -> bool:
        """List operations feed editors' resource trees: verb `list`, output with `items`."""
        return self.verb == "list" and "items" in self.output.model_fields

    @property
    def project_scoped(self) -> bool:
        """The input names the project to act in (a context field clients fill)."""
        info = self.input.model_fields.get("project")
        extra = info.json_schema_extra if info is not None else None
        return isinstance(extra, dict) and extra.get(CONTEXT_KEY) == "project"

    def describe_target(self, data: BaseModel) -> str:
        if not self.target:
            return ""
        values = data.model_dump()
        # An optional field left empty leaves no "None" and no dangling separator behind.
        filled = {k: "" if values.get(k) is None else values[k] for k in _fields_of(self.target)}
        return self.target.format_map(filled).strip(" /")

    def describe(self) -> dict[str, Any]:
        """The catalog entry editors and `GET /api/v1/catalog` use."""
        output = self.output.model_json_schema()
        return {
            "name": self.name,
            "title": self.title,
            "capability": self.capability,
            "command": self.command,
            "path": self.path,
            "permission": self.permission.value,
            "long_running": self.long_running,
            "destructive": self.destructive,
            "lists_resources": self.lists_resources,
            "palette": self.palette,
            "input_schema": self.input.model_json_schema(),
            # The fields editors ask for, in declaration order, digested from input_schema
            # (catalog/prompts.py), so an editor renders prompts without interpreting JSON
            # Schema (a JSON object decoded into a Lua table has lost its properties' order).
            "input_fields": input_fields(self.input),
            "output_schema": output,
            # Where the secrets of a result are and whether the operation exists to show one
            # (catalog/secrets.py), so editors mask without interpreting JSON Schema themselves.
            "output_secrets": secrets.output_secrets(output),
            "reveals": secrets.reveals(self),
        }


def _fields_of(template: str) -> list[str]:
    return re.findall(r"{(\w+)}", template)


CATALOG: dict[str, Operation[Any, Any]] = {}


def declare(op: Operation[In, Out]) -> Operation[In, Out]:
    """Add an operation to the catalog; each name is declared exactly once."""
    if op.name in CATALOG:
        raise ValueError(f"operation {op.name!r} is declared twice")
    CATALOG[op.name] = op
    return op


def operation(name: str) -> Operation[Any, Any]:
    """Look an operation up by name, with an error that lists what exists."""
    try:
        return CATALOG[name]
    except KeyError:
        from codeforge.catalog.errors import NotFound

        raise NotFound(
            f"there is no operation {name!r}",
            fix="run `codeforge catalog` to list the operations this platform has",
        ) from None
