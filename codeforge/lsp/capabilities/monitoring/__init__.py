"""Monitoring in the editor (docs/monitoring.md, "Editors").

- `diagnostics.py`: production errors (`monitoring.errors`) as Error diagnostics at the lines
  that failed, their deployed paths mapped to the project's files by `paths.py`, published as
  the diagnostics layer `monitoring.errors` (`features/layers.py`, so other owners' diagnostics
  on the same files stay); refreshed when the session starts, on open and save, by the feed
  and by `codeforge.monitoring.refresh`;
- `actions.py`: on such a diagnostic, "Fix with the Bug Fixer agent" (the agents' command),
  "Resolve error", "Show error";
- `feed.py`: alert and error notifications (`monitoring.notifications`, long-polled) as
  `window/showMessageRequest` with "Open" for their pane; started and stopped with the
  session (a `SessionHook`);
- `commands.py`: refresh, resolve, and `codeforge.monitoring.tail` without a summary per call
  (Neovim's `:CodeForge monitoring tail` follows logs with it).
"""

from __future__ import annotations

from codeforge.lsp.capabilities.monitoring import diagnostics
from codeforge.lsp.capabilities.monitoring.actions import error_actions
from codeforge.lsp.capabilities.monitoring.commands import COMMANDS
from codeforge.lsp.capabilities.monitoring.feed import start_feed, stop_feed
from codeforge.lsp.contributions import (
    CodeActionProvider,
    Contributions,
    DocumentEvent,
    DocumentSubscriber,
    SessionHook,
)
from codeforge.lsp.features.code_actions import QUICKFIX
from codeforge.lsp.session import CodeForgeSession

__all__ = ["contribute"]


def _on_start(ls: CodeForgeSession) -> None:
    ls.spawn(diagnostics.refresh(ls))
    start_feed(ls)


async def _on_document(ls: CodeForgeSession, event: DocumentEvent) -> None:
    if event.kind == "save":
        await diagnostics.refresh(ls)
    else:
        await diagnostics.refresh(ls, unless_newer_than_s=diagnostics.OPEN_REFRESH_S)


def contribute(c: Contributions) -> None:
    c.add(
        DocumentSubscriber(
            "production errors", _on_document, frozenset({"open", "save"}), lambda ls, uri: uri.startswith("file:")
        ),
        CodeActionProvider("production errors", (QUICKFIX,), error_actions),
        SessionHook("monitoring", _on_start, stop_feed),
        *COMMANDS,
    )
