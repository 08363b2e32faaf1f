"""Quick fixes on a production error's diagnostic (source `codeforge production`):

- "Fix with the Bug Fixer agent": the agents' own `codeforge.agents.fix {uri, line, message}`
  (docs/agents.md: `agents.start` with `bug_fixer`, `$/progress`, the change offered for
  review), the message being the error, how often it happened and its stack;
- "Resolve error": `codeforge.monitoring.resolve {id}` (`monitoring.triage`, then refresh);
- "Show error": `codeforge.panes.open {pane: "error", item: id}` (the editor shows the page).
"""

from __future__ import annotations

from lsprotocol import types

from codeforge.lsp.capabilities.agents.actions import FIX_COMMAND
from codeforge.lsp.capabilities.monitoring.commands import RESOLVE_COMMAND
from codeforge.lsp.capabilities.monitoring.diagnostics import SOURCE, ErrorDiagnostics
from codeforge.lsp.contributions import CodeActionRequest
from codeforge.lsp.features.code_actions import QUICKFIX, action
from codeforge.lsp.session import CodeForgeSession

__all__ = ["FIX_TITLE", "PANES_COMMAND", "RESOLVE_TITLE", "SHOW_TITLE", "error_actions", "fix_message"]

FIX_TITLE = "Fix with the Bug Fixer agent"
RESOLVE_TITLE = "Resolve error"
SHOW_TITLE = "Show error"
PANES_COMMAND = "codeforge.panes.open"
MAX_TASK_CHARS = 19_000  # the agents command takes up to 20,000


def fix_message(ls: CodeForgeSession, diagnostic: types.Diagnostic) -> str:
    """What the Bug Fixer is told: the production error, and its stack when known."""
    group = ls.state(ErrorDiagnostics).groups.get(str(diagnostic.code))
    text = f"This error happens in production: {diagnostic.message}"
    if group is not None and group.frames:
        text += f"\n\nIts latest stack (deployed paths):\n{group.stack_text()}"
    return text[:MAX_TASK_CHARS]


def error_actions(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    if not request.wants(QUICKFIX):
        return []
    out = []
    for diagnostic in request.diagnostics:
        if diagnostic.source != SOURCE or diagnostic.code in (None, ""):
            continue
        group = str(diagnostic.code)
        line = diagnostic.range.start.line
        out += [
            action(
                FIX_TITLE,
                FIX_COMMAND,
                {"uri": request.uri, "line": line, "message": fix_message(ls, diagnostic)},
                kind=QUICKFIX,
                diagnostics=[diagnostic],
                is_preferred=True,
            ),
            action(RESOLVE_TITLE, RESOLVE_COMMAND, {"id": group}, kind=QUICKFIX, diagnostics=[diagnostic]),
            action(
                SHOW_TITLE, PANES_COMMAND, {"pane": "error", "item": group}, kind=QUICKFIX, diagnostics=[diagnostic]
            ),
        ]
    return out
