"""Monitoring in the editor (docs/monitoring.md): production errors as diagnostics at the
failing lines, with code actions; alert notifications. Filled by its owner."""

from __future__ import annotations

from codeforge.lsp.contributions import Contributions

__all__ = ["contribute"]


def contribute(c: Contributions) -> None:
    del c
