"""The agent-run pane: one run's state, steps, tokens and cost, its transcript and its change set
as a diff (`panes.open {pane: "agent-run", item: RUN_ID}`: a webview in VS Code, text in Neovim)."""

from __future__ import annotations

from collections import Counter

from codeforge.platform.context import Context
from codeforge.platform.panes.content import Code, Log, PaneContent, Table
from codeforge.platform.panes.registry import item_pane

__all__ = ["agent_run_pane"]


@item_pane("agent-run", "Agent run", item="run")
def agent_run_pane(ctx: Context, item: str) -> PaneContent:
    from codeforge.platform.agents.service import show_run

    run = show_run(ctx, item)  # NotFound for another organization's run, as for an unknown one
    states = Counter(h.state for f in run.changes for h in f.hunks)
    outcome = run.state if run.state != "done" else ("resolved" if run.resolved else "not resolved")
    finished = f"{run.finished_at:%Y-%m-%d %H:%M:%S}" if run.finished_at else "still running"
    return PaneContent(
        title=f"Agent run: {run.title}",
        subtitle=f"{run.agent} · {outcome} · project {run.project} · started by {run.created_by} "
        f"at {run.created_at:%Y-%m-%d %H:%M:%S}",
        sections=[
            Table(
                "Run",
                ["what", "value"],
                [
                    ["state", run.state],
                    ["outcome", outcome + (f": {run.reason}" if run.reason else "")],
                    ["summary", run.summary],
                    ["agent", run.agent],
                    ["model", run.model],
                    ["steps", str(run.steps)],
                    ["tokens", f"{run.prompt_tokens} prompt + {run.completion_tokens} completion"],
                    ["cost", f"${run.cost_usd:.4f}"],
                    ["finished", finished],
                    ["workspace", run.workspace],
                ],
            ),
            Table(
                "Change set",
                ["file", "status", "hunks", "review"],
                [
                    [
                        f.path,
                        f.status,
                        str(len(f.hunks)),
                        ", ".join(f"#{h.id.rsplit('#', 1)[1]} {h.state}" for h in f.hunks),
                    ]
                    for f in run.changes
                ],
                empty="no changes" if run.state != "running" else "the run is still going",
            ),
            Table(
                "Review",
                ["state", "hunks"],
                [[s, str(n)] for s, n in sorted(states.items())],
                empty="nothing to review",
            ),
            Log("Transcript", [(f"{e.kind} {e.agent}", e.message) for e in run.transcript], empty="no events yet"),
            Code("Diff", run.diff, diff=True, empty="no changes"),
        ],
    )
