"""Every catalog operation as the LSP command `codeforge.<capability>.<verb>`.

Nothing here names an operation: the commands, their argument checks and their context
filling all come from `codeforge.catalog.CATALOG`. Each is an `LspCommand` (`command.py`),
so the argument contract and the error mapping are the same as every other command's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from codeforge.catalog import CATALOG, CONTEXT_KEY, JobRef, Operation
from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.client import validate_input
from codeforge.lsp.command import LspCommand
from codeforge.lsp.jobs import follow_job
from codeforge.lsp.results import is_pane, open_pane, show_result
from codeforge.lsp.session import CodeForgeSession

__all__ = ["catalog_commands", "context_fields", "register_catalog_commands", "run_operation"]


def context_fields(op: Operation[Any, Any]) -> dict[str, str]:
    """Input fields the server fills from context: field name -> context kind ("project")."""
    out: dict[str, str] = {}
    for name, info in op.input.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and isinstance(kind := extra.get(CONTEXT_KEY), str):
            out[name] = kind
    return out


def _fill_context(ls: CodeForgeSession, op: Operation[Any, Any], fields: dict[str, str], data: dict[str, Any]) -> None:
    for name, kind in fields.items():
        if data.get(name) not in (None, ""):
            continue
        value = ls.context_value(kind)
        if value:
            data[name] = value
        elif op.input.model_fields[name].is_required():
            raise BadInput(
                f"{op.command} needs a {kind} and none is configured",
                errors=[
                    FieldProblem(
                        name,
                        f"no {kind} given",
                        f"pass `{name}`, or add `{kind}: <slug>` to codeforge.yaml at the workspace root",
                    )
                ],
            )


async def run_operation(ls: CodeForgeSession, op: Operation[Any, Any], data: dict[str, Any]) -> Any:
    """Fill context, check the input, call the platform, follow a job to its end; the
    operation's output as JSON. The one-object argument and errors are `LspCommand`'s."""
    _fill_context(ls, op, ls.context_fields[op.name], data)
    body: BaseModel = validate_input(op, data)
    out = await ls.platform.call(op, body)
    result = await follow_job(ls, op, out) if isinstance(out, JobRef) else out.model_dump(mode="json")
    # The summary goes out after the response: the caller waits for the result, not for
    # the message. pygls sends the response one loop iteration after this coroutine
    # returns, so two iterations from now is after it.
    loop = asyncio.get_running_loop()
    loop.call_soon(loop.call_soon, show_result, ls, op, result)
    if is_pane(op):
        # A pane link (panes.open): the editor shows the page, after it has the result.
        loop.call_soon(loop.call_soon, ls.spawn, open_pane(ls, op, result))
    return result


def _command(op: Operation[Any, Any]) -> LspCommand[dict[str, Any]]:
    async def handler(ls: CodeForgeSession, data: dict[str, Any]) -> Any:
        return await run_operation(ls, op, data)

    return LspCommand(op.command, None, handler, tuple(op.input.model_fields))


def catalog_commands() -> list[LspCommand[dict[str, Any]]]:
    return [_command(op) for op in sorted(CATALOG.values(), key=lambda o: o.name)]


def register_catalog_commands(ls: CodeForgeSession) -> None:
    for op in CATALOG.values():
        ls.context_fields[op.name] = context_fields(op)
    for command in catalog_commands():
        if command.name not in ls.protocol.fm.commands:  # a capability's own command of that name wraps it
            command.register(ls)
