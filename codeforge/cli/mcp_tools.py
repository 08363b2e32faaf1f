"""The catalog as Model Context Protocol tool definitions: names, descriptions, schemas and
annotations, derived from each operation's declaration (no I/O, no platform).

`codeforge mcp` (codeforge/cli/mcp.py) serves these; a tool call names its operation through
`tool_table`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

import mcp_types as types

from codeforge.catalog import CONTEXT_KEY, ROLE_PERMISSIONS, Operation, Permission, Role
from codeforge.catalog.secrets import output_schema

__all__ = ["TOOL_NAME", "describe", "input_schema", "read_only", "tool_for", "tool_name", "tool_table"]

# What MCP allows in a tool name (SEP-986): dots are allowed there, but the model APIs the
# agents call (Anthropic's, OpenAI's) take only letters, digits, `_` and `-` in a function's
# name, so `databases.branch` becomes `databases_branch`.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Verbs that only read (the last `_`-part of the verb: `pool_stats`, `review_show`). The catalog
# has no read-only flag (codeforge/lsp/results.py keeps the same convention), and the permission
# is not one: `tokens.create` and `collab.comment` need only `view`. A tool marked read-only may
# be run without the user's confirmation, so only these verbs are.
_READ_VERBS = frozenset({"list", "get", "show", "tree", "status", "whoami", "reveal", "stats", "records"})
_READING = frozenset({Permission.VIEW, Permission.AUDIT, Permission.REVEAL})


def tool_name(op: Operation[Any, Any]) -> str:
    return op.name.replace(".", "_")


def tool_table(ops: Iterable[Operation[Any, Any]]) -> dict[str, Operation[Any, Any]]:
    """Tool name → operation, sorted by name. Two operations whose names differ only in where
    the dot is (`a_b.c`, `a.b_c`) would share a name: the later keeps its dotted name, which
    MCP allows, rather than one shadowing the other."""
    table: dict[str, Operation[Any, Any]] = {}
    for op in sorted(ops, key=lambda o: o.name):
        name = tool_name(op)
        table[op.name if name in table else name] = op
    return table


def read_only(op: Operation[Any, Any]) -> bool:
    return op.permission in _READING and not op.destructive and op.verb.rsplit("_", 1)[-1] in _READ_VERBS


def _who_may(permission: Permission) -> str:
    """The lowest role that holds a permission: `developer` for edit."""
    for role in Role:  # declared from the least to the most privileged
        if permission in ROLE_PERMISSIONS[role]:
            return role.value
    return Role.OWNER.value


def describe(op: Operation[Any, Any]) -> str:
    """Title, then what it needs and how it runs: what an agent weighs before calling it."""
    lines = [f"{op.title}.", f"Needs the `{op.permission.value}` permission ({_who_may(op.permission)} or above)."]
    if op.long_running:
        lines.append("Long-running: the call waits for its job, reports progress, and returns the job's result.")
    if op.destructive:
        lines.append("Destructive: removes or overwrites something; confirm with the user first.")
    if op.project_scoped:
        lines.append("`project` defaults to the project of codeforge.yaml (or the login).")
    return " ".join(lines)


def input_schema(op: Operation[Any, Any], project: str | None) -> dict[str, Any]:
    """The operation's input JSON Schema, with the fields the context fills (the project) made
    optional: the server fills them as the CLI does, so an agent need not know the project."""
    schema = copy.deepcopy(op.input.model_json_schema())
    props: dict[str, Any] = schema.get("properties") or {}
    context = [name for name, prop in props.items() if isinstance(prop, dict) and CONTEXT_KEY in prop]
    if context:
        schema["required"] = [name for name in schema.get("required", []) if name not in context]
        if not schema["required"]:
            del schema["required"]
    for name in context:
        if props[name].get(CONTEXT_KEY) == "project" and project:
            props[name]["default"] = project
    return schema


def tool_for(name: str, op: Operation[Any, Any], project: str | None) -> types.Tool:
    return types.Tool(
        name=name,
        title=op.title,
        description=describe(op),
        input_schema=input_schema(op, project),
        output_schema=copy.deepcopy(output_schema(op)),
        annotations=types.ToolAnnotations(
            title=op.title,
            read_only_hint=read_only(op),
            destructive_hint=op.destructive,
            # Operations act on the caller's organization, never on the open internet.
            open_world_hint=False,
        ),
    )
