"""How each editor connects, said once: the `codeforge up` banner prints these lines and the
READMEs (README.md, extensions/*/README.md) say the same (tests/test_cli.py checks both)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXTENSIONS", "VSCODE_INSTALL", "editor_setup_lines"]

# The extensions folder of a source checkout (where `make up` runs); absent in an installed wheel.
EXTENSIONS = Path(__file__).resolve().parents[2] / "extensions"
# The one command that builds the VS Code extension and installs it into VS Code or code-server.
VSCODE_INSTALL = "make vscode"


def _where(relative: str) -> str:
    path = EXTENSIONS / relative
    return str(path) if path.exists() else f"extensions/{relative} of the CodeForge repository"


def _repository() -> str:
    return str(EXTENSIONS.parent) if EXTENSIONS.exists() else "the CodeForge repository"


def editor_setup_lines() -> list[str]:
    return [
        f"VS Code    run `{VSCODE_INSTALL}` in {_repository()}, then open this folder",
        f"Neovim     add {_where('nvim')} to 'runtimepath' (lazy.nvim: {{ dir = ... }}), open a file here",
        f"JetBrains  import {_where('jetbrains/codeforge')} as an LSP4IJ template (see its README)",
        "Any editor start `codeforge lsp` as a stdio language server",
    ]
