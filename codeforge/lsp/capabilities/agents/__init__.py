"""The agents capability in the editor (docs/agents.md, "Editors").

Code actions in source files start an agent on the place they were asked for (`actions.py`):
fix a diagnostic, write tests for a definition, refactor a selection, build what a comment
describes. The commands they run (`commands.py`) start the run as a job with `$/progress`,
then offer its change set as a `workspace/applyEdit` that needs confirmation (`edits.py`) and
accept or reject it on the platform by what the person chose; `codeforge.agents.undo` applies
the reverse, `codeforge.agents.transcript` opens the run's pane. The run's JSON is read in
one place (`run.py`).
"""

from __future__ import annotations

from lsprotocol import types

from codeforge.lsp.capabilities.agents.actions import AGENT_KIND, agent_actions
from codeforge.lsp.capabilities.agents.commands import COMMANDS
from codeforge.lsp.contributions import CodeActionProvider, Contributions

__all__ = ["contribute"]


def contribute(c: Contributions) -> None:
    c.add(
        CodeActionProvider("agents", (types.CodeActionKind.QuickFix.value, AGENT_KIND), agent_actions),
        *COMMANDS,
    )
