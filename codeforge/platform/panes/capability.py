"""Panes: `panes.open` gives a signed link to a page the platform renders; the project
overview pane."""

from __future__ import annotations

from codeforge.platform.manifest import Capability

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="panes",
    title="Panes",
    catalog=("codeforge.catalog.panes",),
    services=("service",),
    panes=("overview",),
)
