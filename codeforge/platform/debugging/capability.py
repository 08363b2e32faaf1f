"""The debugging capability: no operations or services of its own (debug sessions are bridge
resources, listed and closed by `bridges.*`); it brings the language server's debug lenses."""

from __future__ import annotations

from codeforge.platform.manifest import Capability

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="debugging",
    title="Debugging",
    editor=("codeforge.lsp.capabilities.debugging",),
)
