"""The CodeForge language server (`codeforge lsp`): every catalog operation as an LSP
command, jobs as cancellable progress, and codeforge.yaml diagnostics, completion, hover
and code actions. `serve_stdio()` runs it over stdin/stdout."""

from codeforge.lsp.server import build_server, main, run_stdio, serve_stdio
from codeforge.lsp.session import CodeForgeSession
from codeforge.lsp.settings import ServerOptions

__all__ = [
    "CodeForgeSession",
    "ServerOptions",
    "build_server",
    "main",
    "run_stdio",
    "serve_stdio",
]
