"""One way to declare an LSP command: `@lsp_command(name, Arguments)`.

Every command the server runs, the catalog's and the server's own, goes through
`LspCommand.run`, which

- checks the argument: the contract is one object (no argument means `{}`), validated by
  the command's pydantic model when it has one, so a wrong field is named with its fix;
- maps errors: a `CodeForgeError` (bad input, a refusal, the platform down) becomes the LSP
  error carrying the one line the CLI prints (`errors.lsp_error`), and anything unexpected
  is logged with its traceback and answered with one line, never pygls' traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer

from codeforge.catalog.errors import BadInput, CodeForgeError
from codeforge.lsp.errors import REQUEST_FAILED, lsp_error
from codeforge.lsp.session import CodeForgeSession

__all__ = ["CommandArguments", "LspCommand", "lsp_command", "one_object"]

log = logging.getLogger(__name__)

A = TypeVar("A")


class CommandArguments(BaseModel):
    """Base of a command's argument model: unknown fields are refused, as the catalog's
    input models refuse them."""

    model_config = ConfigDict(extra="forbid")


def one_object(command: str, args: Sequence[Any], fields: Sequence[str] = ()) -> dict[str, Any]:
    """The contract: one argument, an object of input fields. No argument (or null) means {}."""
    if not args or (len(args) == 1 and args[0] is None):
        return {}
    if len(args) == 1 and isinstance(args[0], dict):
        return dict(args[0])
    raise BadInput(
        f"{command} takes one argument, an object of its input fields; got {len(args)} "
        f"argument(s) of type {', '.join(type(a).__name__ for a in args)}",
        fix=f"pass one object with its fields ({', '.join(fields) or 'no fields'})",
    )


@dataclass(frozen=True)
class LspCommand(Generic[A]):
    """A command: its name, the model of its one argument (None: the raw object, checked by
    the handler, as catalog commands do with their operation's model) and its handler."""

    name: str
    arguments: type[BaseModel] | None
    handler: Callable[[CodeForgeSession, A], Awaitable[Any]]
    fields: tuple[str, ...] = ()

    def _check(self, args: Sequence[Any]) -> Any:
        data = one_object(self.name, args, self.fields)
        if self.arguments is None:
            return data
        try:
            return self.arguments.model_validate(data)
        except ValidationError as exc:
            raise BadInput.from_validation(exc, model=self.arguments) from None

    async def run(self, ls: CodeForgeSession, args: Sequence[Any]) -> Any:
        """Check the argument, run the handler; its result as JSON, or an LSP error."""
        try:
            result = await self.handler(ls, self._check(args))
        except CodeForgeError as exc:
            raise lsp_error(exc) from None
        except JsonRpcException:
            raise
        except Exception as exc:
            # A bug here or an answer the client could not read: the details go to the log
            # (stderr), the editor gets one line instead of pygls' traceback.
            log.exception("%s failed", self.name)
            raise JsonRpcException(
                message=f"{self.name} failed inside codeforge lsp ({type(exc).__name__}: {exc}); "
                "Fix: see the language server's log and report it",
                code=REQUEST_FAILED,
            ) from None
        return result.model_dump(mode="json") if isinstance(result, BaseModel) else result

    def register(self, server: LanguageServer) -> None:
        # pygls passes the server as the first parameter because it is named `ls`, and hands
        # every argument over unconverted to `*args`. The annotations must resolve at run
        # time (pygls reads them with get_type_hints), hence `Any`.
        async def command(ls: Any, *args: Any) -> Any:
            return await self.run(ls, args)

        command.__qualname__ = command.__name__ = "command_" + self.name.replace(".", "_")
        server.command(self.name)(command)


def lsp_command(
    name: str, arguments: type[BaseModel] | None = None
) -> Callable[[Callable[[CodeForgeSession, Any], Awaitable[Any]]], LspCommand[Any]]:
    """Declare a command: `@lsp_command("codeforge.x.y", XArguments) async def run(ls, args)`."""

    def wrap(handler: Callable[[CodeForgeSession, Any], Awaitable[Any]]) -> LspCommand[Any]:
        fields = tuple(arguments.model_fields) if arguments is not None else ()
        return LspCommand(name, arguments, handler, fields)

    return wrap
