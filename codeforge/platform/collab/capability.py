"""The collab capability: who takes part in a collaboration session (sessions, invitations,
participants, roles), review comments anchored to text, and reviews of a change set. The
shared documents live in the bridge (codeforge/collab/); the platform answers `collab.admit`
for every websocket the bridge opens."""

from __future__ import annotations

from codeforge.platform.manifest import Capability

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="collab",
    title="Collaboration",
    catalog=("codeforge.catalog.collab",),
    models=("models",),
    services=("sessions", "threads", "reviews"),
    editor=("codeforge.lsp.capabilities.collab",),
)
