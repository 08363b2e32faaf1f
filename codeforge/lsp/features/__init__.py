"""The server's LSP features, one module each; `register_all` wires them to a server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from codeforge.lsp.features import (
    code_actions,
    completion,
    custom_requests,
    databases,
    diagnostics,
    hover,
    progress,
)

if TYPE_CHECKING:
    from codeforge.lsp.server import CodeForgeLanguageServer

__all__ = ["register_all"]


def register_all(ls: CodeForgeLanguageServer) -> None:
    for module in (custom_requests, progress, diagnostics, completion, hover, code_actions, databases):
        module.register(ls)
