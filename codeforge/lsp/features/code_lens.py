"""`textDocument/codeLens`: every capability's lenses of a document (debug this test, …),
registered only when some capability provides lenses, so a server without any does not
advertise the feature."""

from __future__ import annotations

import logging

from lsprotocol import types

from codeforge.lsp.contributions import Contributions
from codeforge.lsp.session import CodeForgeSession

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(ls: CodeForgeSession, contributions: Contributions) -> None:
    providers = list(contributions.code_lenses)
    if not providers:
        return

    @ls.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    def code_lens(ls: CodeForgeSession, params: types.CodeLensParams) -> list[types.CodeLens] | None:
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        found: list[types.CodeLens] = []
        for provider in providers:
            try:  # one provider's bug costs its own lenses, not everyone's
                found += provider.provide(ls, uri, document.source)
            except Exception:
                log.exception("code lenses of %s failed on %s", provider.name, uri)
        return found or None
