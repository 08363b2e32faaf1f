"""A run as the platform answers it (`agents.start`'s job result, `agents.show`), read into
what the editor side needs: who ran, how it ended, what it costs, and its change set.

The run's JSON is the catalog's (`codeforge/catalog/agents.py`); this reads only the fields
docs/agents.md names and tolerates the rest, so an added field never breaks the editor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codeforge.catalog.errors import ExternalFailure
from codeforge.changes import Hunk

__all__ = ["DECIDED", "RunFile", "RunView", "read_run"]

DECIDED = frozenset(("accepted", "rejected", "undone"))


@dataclass
class RunFile:
    """One file of a run's change set: its hunks and each hunk's state (pending, accepted,
    rejected, undone)."""

    path: str
    status: str  # modified | added | deleted
    hunks: list[Hunk] = field(default_factory=list)
    states: list[str] = field(default_factory=list)

    def hunks_in(self, *states: str) -> list[Hunk]:
        return [h for h, s in zip(self.hunks, self.states, strict=True) if s in states]

    def open_hunks(self) -> list[Hunk]:
        """The hunks nobody decided on yet (pending, whatever the platform calls it)."""
        return [h for h, s in zip(self.hunks, self.states, strict=True) if s not in DECIDED]


@dataclass
class RunView:
    id: str
    agent: str
    state: str
    resolved: bool
    summary: str
    reason: str
    cost_usd: float | None
    files: list[RunFile] = field(default_factory=list)
    workspace: str = ""  # the folder it ran on

    @property
    def cost(self) -> str:
        return "cost unknown" if self.cost_usd is None else f"${self.cost_usd:.4f}"


def _hunk(raw: dict[str, Any]) -> Hunk:
    return Hunk(
        old_start=int(raw["old_start"]),
        old_lines=int(raw["old_lines"]),
        new_start=int(raw["new_start"]),
        new_lines=int(raw["new_lines"]),
        lines=[str(line) for line in raw["lines"]],
    )


def _files(data: dict[str, Any]) -> list[RunFile]:
    changes = data.get("changes", data.get("change_set"))
    if isinstance(changes, dict):  # {"files": [...]} rather than the list itself
        changes = changes.get("files")
    out = []
    for raw in changes or []:
        hunks = [h for h in raw.get("hunks") or [] if isinstance(h, dict)]
        out.append(
            RunFile(
                path=str(raw["path"]),
                status=str(raw.get("status") or "modified"),
                hunks=[_hunk(h) for h in hunks],
                states=[str(h.get("state") or "pending") for h in hunks],
            )
        )
    return out


def read_run(data: Any) -> RunView:
    """The editor's view of a run's JSON; ExternalFailure when it is not one (a platform of
    another version)."""
    if not isinstance(data, dict):
        raise ExternalFailure(f"the platform answered with no run ({type(data).__name__})", fix="update the platform")
    try:
        raw_outcome = data.get("outcome")
        outcome: dict[str, Any] = raw_outcome if isinstance(raw_outcome, dict) else {}
        run_id = data.get("id", data.get("run"))
        if run_id in (None, ""):
            raise KeyError("id")
        cost = data.get("cost_usd", outcome.get("cost_usd"))
        return RunView(
            id=str(run_id),
            agent=str(data.get("agent") or "agent"),
            state=str(data.get("state") or ""),
            resolved=bool(outcome.get("resolved", data.get("resolved", False))),
            summary=str(outcome.get("summary") or data.get("summary") or ""),
            reason=str(outcome.get("reason") or data.get("reason") or ""),
            cost_usd=float(cost) if isinstance(cost, int | float) else None,
            files=_files(data),
            workspace=str(data.get("workspace") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ExternalFailure(
            f"the platform's run could not be read ({type(exc).__name__}: {exc})",
            fix="update codeforge so that the editor and the platform are of the same version",
        ) from None
