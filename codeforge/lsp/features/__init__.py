"""The server's LSP features, one module per LSP method (or group of methods); each fans
out to the capabilities' contributions where the method is about a document.
`register_all` wires them to a server."""

from __future__ import annotations

from codeforge.lsp.contributions import Contributions
from codeforge.lsp.features import (
    code_actions,
    code_lens,
    completion,
    custom_requests,
    diagnostics,
    documents,
    hover,
    lifecycle,
    progress,
)
from codeforge.lsp.session import CodeForgeSession

__all__ = ["register_all"]


def register_all(ls: CodeForgeSession, contributions: Contributions) -> None:
    # Subscribers and commands first: documents and code actions read the full lists.
    diagnostics.register(ls, contributions)
    code_actions.register(ls, contributions)
    code_lens.register(ls, contributions)
    documents.register(ls, contributions)
    lifecycle.register(ls, contributions)  # initialized, shutdown, exit: the SessionHooks
    for module in (custom_requests, progress, completion, hover):
        module.register(ls)
