"""The collab capability: who takes part in a collaboration session (sessions, invitations,
participants, roles), review comments anchored to text, and reviews of a change set. The
shared documents live in the bridge (codeforge/collab/); the platform answers `collab.admit`
for every websocket the bridge opens. Calls (voice, video, screen sharing: docs/voice.md) run in
the bridge too; the platform keeps their life and the bridge's reports (`calls`)."""

from __future__ import annotations

from codeforge.platform.manifest import Capability

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="collab",
    title="Collaboration",
    catalog=("codeforge.catalog.collab", "codeforge.catalog.calls"),
    models=("models",),
    services=("sessions", "threads", "reviews", "calls"),
    editor=("codeforge.lsp.capabilities.collab",),
)
