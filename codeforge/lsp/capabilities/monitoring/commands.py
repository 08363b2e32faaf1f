"""Monitoring's own editor commands.

- `codeforge.monitoring.refresh {}`: ask the platform for the production errors again and
  publish their diagnostics; answers how many groups, diagnostics and files.
- `codeforge.monitoring.resolve {id}`: "Resolve error": `monitoring.triage` to `resolved`,
  then refresh (its diagnostics go).
- `codeforge.monitoring.tail {query?, after?, wait_s?, …}`: the catalog's `monitoring.tail`
  without the one-line summary each call would show (an editor following logs calls it every
  few seconds); its answer and errors are the operation's.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from codeforge.catalog.base import operation
from codeforge.catalog.errors import BadInput
from codeforge.client import validate_input
from codeforge.lsp.capabilities.monitoring import diagnostics
from codeforge.lsp.capabilities.monitoring.diagnostics import ErrorDiagnostics
from codeforge.lsp.command import CommandArguments, LspCommand, lsp_command
from codeforge.lsp.session import CodeForgeSession

__all__ = [
    "COMMANDS",
    "REFRESH_COMMAND",
    "RESOLVE_COMMAND",
    "TAIL_COMMAND",
    "ResolveArguments",
    "refresh",
    "resolve",
    "tail",
]

REFRESH_COMMAND = "codeforge.monitoring.refresh"
RESOLVE_COMMAND = "codeforge.monitoring.resolve"
TAIL_COMMAND = "codeforge.monitoring.tail"
TRIAGE_OP = "monitoring.triage"
TAIL_OP = "monitoring.tail"
_GROUP_FIELDS = ("error", "id", "group")  # monitoring.triage names it `error`


class RefreshArguments(CommandArguments):
    pass


class ResolveArguments(CommandArguments):
    id: str = Field(min_length=1, max_length=200, description="The error group's id (the diagnostic's code).")
    project: str | None = Field(default=None, min_length=1, description="Default: the workspace's project.")


def _project(ls: CodeForgeSession, given: str | None) -> str:
    where = diagnostics.monitored_project(ls)
    project = given or (where.project if where is not None else ls.context_project())
    if not project:
        raise BadInput("no project to work in", fix="add `project: <slug>` to codeforge.yaml at the workspace root")
    return project


def _summary(ls: CodeForgeSession) -> dict[str, Any]:
    state = ls.state(ErrorDiagnostics)
    now = diagnostics.published(ls)
    return {
        "errors": len(state.groups),
        "diagnostics": sum(len(d) for d in now.values()),
        "files": sorted(now),
    }


@lsp_command(REFRESH_COMMAND, RefreshArguments)
async def refresh(ls: CodeForgeSession, args: RefreshArguments) -> dict[str, Any]:
    await diagnostics.refresh(ls)
    return _summary(ls)


@lsp_command(RESOLVE_COMMAND, ResolveArguments)
async def resolve(ls: CodeForgeSession, args: ResolveArguments) -> dict[str, Any]:
    op = operation(TRIAGE_OP)
    field = next((f for f in _GROUP_FIELDS if f in op.input.model_fields), "id")
    data = {"project": _project(ls, args.project), field: args.id, "state": "resolved"}
    result = await ls.platform.call(op, data)
    await diagnostics.refresh(ls)
    ls.info(f"Resolved error {args.id}: an event of it again reopens it as regressed")
    out: dict[str, Any] = result.model_dump(mode="json") if hasattr(result, "model_dump") else {"id": args.id}
    return out


async def _tail(ls: CodeForgeSession, data: dict[str, Any]) -> Any:
    op = operation(TAIL_OP)
    if not data.get("project"):
        data["project"] = _project(ls, None)
    result = await ls.platform.call(op, validate_input(op, data))
    return result.model_dump(mode="json") if hasattr(result, "model_dump") else result


tail: LspCommand[dict[str, Any]] = LspCommand(TAIL_COMMAND, None, _tail)

COMMANDS = (refresh, resolve, tail)
