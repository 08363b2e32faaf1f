"""`python -m codeforge.lsp`: the language server over stdio."""

from codeforge.lsp.server import main

main()
