"""Collaboration in the editor: every LSP editor co-edits through its language server.

Active only in a session the bridge runs (the bridge hands it its room hub, see `state.py`);
a `codeforge lsp` on the editor's own machine answers every command with "connect to a
workspace first (codeforge connect URL)". docs/collab.md, "Language-server protocol".

This module only wires the parts together; each part is a sibling module with its own
`contribute(c)`.
"""

from __future__ import annotations

from codeforge.lsp.capabilities.collab import call, comments, conflicts, documents, follow, presence, review, sessions
from codeforge.lsp.contributions import Contributions

__all__ = ["contribute"]


def contribute(c: Contributions) -> None:
    documents.contribute(c)
    sessions.contribute(c)
    conflicts.contribute(c)
    presence.contribute(c)
    follow.contribute(c)
    comments.contribute(c)
    review.contribute(c)
    call.contribute(c)
