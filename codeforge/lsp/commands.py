"""Every catalog operation as the LSP command `codeforge.<capability>.<verb>`.

Nothing here names an operation: the commands, their argument checks and their context
filling all come from `codeforge.catalog.CATALOG`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pygls.exceptions import JsonRpcException

from codeforge.catalog import CATALOG, CONTEXT_KEY, JobRef, Operation
from codeforge.catalog.errors import BadInput, CodeForgeError, FieldProblem
from codeforge.client import validate_input
from codeforge.lsp.errors import REQUEST_FAILED, lsp_error
from codeforge.lsp.jobs import follow_job
from codeforge.lsp.results import is_pane, open_pane, show_result

if TYPE_CHECKING:
    from codeforge.lsp.server import CodeForgeLanguageServer

__all__ = ["context_fields", "register_catalog_commands", "run_operation"]

log = logging.getLogger(__name__)


def context_fields(op: Operation[Any, Any]) -> dict[str, str]:
    """Input fields the server fills from context: field name -> context kind ("project")."""
    out: dict[str, str] = {}
    for name, info in op.input.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and isinstance(kind := extra.get(CONTEXT_KEY), str):
            out[name] = kind
    return out


def _argument_object(op: Operation[Any, Any], args: Sequence[Any]) -> dict[str, Any]:
    # The contract: one argument, an object of input fields. No argument means {}.
    if not args:
        return {}
    if len(args) == 1 and isinstance(args[0], dict):
        return dict(args[0])
    if len(args) == 1 and args[0] is None:
        return {}
    fields = ", ".join(op.input.model_fields) or "no fields"
    raise BadInput(
        f"{op.command} takes one argument, an object of its input fields; got {len(args)} "
        f"argument(s) of type {', '.join(type(a).__name__ for a in args)}",
        fix=f"pass one object with its fields ({fields})",
    )


def _fill_context(
    ls: CodeForgeLanguageServer, op: Operation[Any, Any], fields: dict[str, str], data: dict[str, Any]
) -> None:
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


async def run_operation(ls: CodeForgeLanguageServer, op: Operation[Any, Any], args: Sequence[Any]) -> Any:
    """Check the argument, fill context, call the platform, follow a job to its end; the
    operation's output as JSON. Every failure becomes an LSP error with a one-line message."""
    try:
        data = _argument_object(op, args)
        _fill_context(ls, op, ls.context_fields[op.name], data)
        body: BaseModel = validate_input(op, data)
        out = await ls.platform.call(op, body)
        if isinstance(out, JobRef):
            result = await follow_job(ls, op, out)
        else:
            result = out.model_dump(mode="json")
    except CodeForgeError as exc:
        raise lsp_error(exc) from None
    except JsonRpcException:
        raise
    except Exception as exc:
        # A bug here or an answer the client could not read: the details go to the log
        # (stderr), the editor gets one line instead of pygls' traceback.
        log.exception("%s failed", op.command)
        raise JsonRpcException(
            message=f"{op.command} failed inside codeforge lsp ({type(exc).__name__}: {exc}); "
            "Fix: see the language server's log and report it",
            code=REQUEST_FAILED,
        ) from None
    # The summary goes out after the response: the caller waits for the result, not for
    # the message. pygls sends the response one loop iteration after this coroutine
    # returns, so two iterations from now is after it.
    loop = asyncio.get_running_loop()
    loop.call_soon(loop.call_soon, show_result, ls, op, result)
    if is_pane(op):
        # A pane link (panes.open): the editor shows the page, after it has the result.
        loop.call_soon(loop.call_soon, ls.spawn, open_pane(ls, op, result))
    return result


def _handler(op: Operation[Any, Any]) -> Any:
    # pygls passes the server as the first parameter because it is named `ls`, and
    # hands every argument over unconverted to the `*args` parameter. The annotations
    # must resolve at run time (pygls reads them with get_type_hints), hence `Any`.
    async def operation_command(ls: Any, *args: Any) -> Any:
        return await run_operation(ls, op, args)

    operation_command.__qualname__ = operation_command.__name__ = f"command_{op.name.replace('.', '_')}"
    return operation_command


def register_catalog_commands(ls: CodeForgeLanguageServer) -> None:
    for op in sorted(CATALOG.values(), key=lambda o: o.name):
        ls.context_fields[op.name] = context_fields(op)
        ls.command(op.command)(_handler(op))
