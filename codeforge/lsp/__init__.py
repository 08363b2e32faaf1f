"""The CodeForge language server (`codeforge lsp`): every catalog operation as an LSP
command, jobs as cancellable progress, and codeforge.yaml diagnostics, completion, hover
and code actions. `serve_stdio()` runs it over stdin/stdout."""

from codeforge.lsp.server import CodeForgeLanguageServer, build_server, main, run_stdio, serve_stdio

__all__ = ["CodeForgeLanguageServer", "build_server", "main", "run_stdio", "serve_stdio"]
