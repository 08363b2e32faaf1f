"""The CodeForge language server (`codeforge lsp`): every catalog operation as an LSP
command, jobs as cancellable progress, and codeforge.yaml diagnostics, completion, hover
and code actions. `codeforge.lsp.server.serve_stdio()` runs it over stdin/stdout.

Nothing is imported here: a module of this package (`settings`, for the CLI's flags) must not
cost the whole server's import (about a quarter of a second)."""
