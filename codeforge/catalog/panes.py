"""Panes: pages the platform serves, opened in the editor (webview, browser panel, float)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare

__all__ = ["OPEN", "PANE_MARKER", "PaneLink", "PaneOpenInput"]

# Output schemas carrying this key are links editors open with window/showDocument.
PANE_MARKER = "x-codeforge-pane"


class PaneOpenInput(ProjectInput):
    pane: str = Field(
        default="overview",
        pattern=r"^[a-z][a-z0-9-]{0,40}$",
        description="Which pane: overview (variables and jobs), databases, agent-run, …",
    )
    item: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        pattern=r"^[^\x00-\x1f\x7f]+$",  # one line: ids, names, and the logs pane's query ({level="error"} timeout)
        description="For a pane about one resource (agent-run): its id, e.g. the run's; for logs, a log query.",
    )


class PaneLink(BaseModel):
    model_config = ConfigDict(json_schema_extra={PANE_MARKER: True})

    title: str
    url: str = Field(description="Signed link, valid until expires_at; add &format=text for plain text.")
    expires_at: datetime


OPEN = declare(
    Operation("panes.open", "Open a pane", PaneOpenInput, PaneLink, Permission.VIEW, target="{project}/{pane}/{item}")
)
