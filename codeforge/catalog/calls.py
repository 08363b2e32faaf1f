"""Calls in collaboration sessions: voice, video and screen sharing (docs/voice.md).

The media server runs in the bridge; the platform keeps who may be in a call, the call's
life (started, ended) and what the bridge last reported of it. Two callers besides people:
the bridge calls `collab.call_join` with the joining user's token before the call websocket
upgrades, and `collab.call_report` with its own token on every change and every 2 s (the
answer carries the mutes people asked for and whether the call was ended here). Both are
machine calls, so editors' palettes leave them out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from codeforge.catalog.base import Input, Operation, Permission, declare
from codeforge.catalog.bridges import ID_PATTERN as BRIDGE_ID_PATTERN
from codeforge.catalog.collab import ID_PATTERN, Participant, SessionRole

__all__ = [
    "CALL_END",
    "CALL_JOIN",
    "CALL_MUTE",
    "CALL_REPORT",
    "CALL_SHOW",
    "CALL_START",
    "MAX_REPORTED",
    "USERNAME_PATTERN",
    "Call",
    "CallInput",
    "CallJoined",
    "CallParticipant",
    "CallReportInput",
    "CallReported",
    "CallState",
    "MuteInput",
    "MuteRequest",
    "ReportedParticipant",
    "ShareKind",
]

# A platform username (codeforge/catalog/members.py): anything else is a typo, said as such.
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
_USERNAME_HELP = "a platform username: lowercase letters, digits and . _ - (at most 63)"
# More people than a mixed room is sized for (docs/voice.md: 20 talkers benchmarked); a
# report beyond it is not a call this bridge can be carrying.
MAX_REPORTED = 200

CallState = Literal["active", "ended"]
ShareKind = Literal["screen", "camera"]


def _session_id() -> Any:
    return Field(
        pattern=ID_PATTERN,
        description="Id of the collaboration session: 32 lowercase hex digits, as the platform printed it.",
        json_schema_extra={"x-codeforge-values": "collab.list#id"},
    )


def _username(what: str) -> Any:
    return Field(pattern=USERNAME_PATTERN, description=f"{what}: {_USERNAME_HELP}.")


class CallParticipant(BaseModel):
    """One person in the call: who they are in the session (name, colour, role, host: the
    platform's, as of now) and what the bridge last reported of their media."""

    username: str
    name: str
    color: str = Field(description="#rrggbb, the participant's colour in the session.")
    role: SessionRole
    host: bool
    muted: bool
    muted_by_host: bool = Field(description="Muted by the host (only the participant unmutes).")
    talking: bool = Field(description="Voice activity, as the bridge's mixer last heard it.")
    sharing: ShareKind | None = Field(description="What the participant shares: screen, camera or nothing.")
    watching: str | None = Field(description="Whose share the participant watches.")
    joined_at: datetime


class MuteRequest(BaseModel):
    username: str
    muted: bool


class Call(BaseModel):
    session: str
    state: CallState
    started_by: str = Field(description="Username of who started the call.")
    started_at: datetime
    ended_at: datetime | None
    participants: list[CallParticipant] = Field(
        description="Who is in the call, in the order they joined, as the bridge last reported it."
    )
    reported_at: datetime | None = Field(description="When the bridge last reported the call (null: not yet).")
    pending_mutes: list[MuteRequest] = Field(
        default_factory=list,
        description="Mutes asked for that the bridge has not taken yet (it applies them within about 2 s).",
    )


class CallJoined(BaseModel):
    member: Participant = Field(description="The joining user, as the session knows them.")
    call: Call


class CallInput(Input):
    session: str = _session_id()


class MuteInput(Input):
    session: str = _session_id()
    username: str = _username("Who to mute: yourself, or (the host) another participant")
    muted: bool = Field(default=True, description="true mutes; false unmutes (only yourself).")


class ReportedParticipant(Input):
    username: str = _username("The participant")
    muted: bool
    muted_by_host: bool = False
    talking: bool = False
    sharing: ShareKind | None = Field(default=None, description="screen, camera or null.")
    watching: str | None = Field(
        default=None, pattern=USERNAME_PATTERN, description=f"Whose share they watch: {_USERNAME_HELP}."
    )
    joined_at: AwareDatetime = Field(description="When they joined the call (ISO 8601, with a time zone).")


class CallReportInput(Input):
    session: str = _session_id()
    bridge: str = Field(
        pattern=BRIDGE_ID_PATTERN,
        description="Id of the reporting bridge: letters, digits and _ . : @ + - (at most 128).",
    )
    participants: list[ReportedParticipant] = Field(
        max_length=MAX_REPORTED,
        description=f"Everyone in the call now, in the order they joined (JSON, at most {MAX_REPORTED}).",
    )


class CallReported(BaseModel):
    state: CallState = Field(description="ended: the call was ended on the platform; end it in the bridge.")
    mutes: list[MuteRequest] = Field(description="Mutes to apply, each delivered once.")


# ---- operations -------------------------------------------------------------------------

CALL_START = declare(
    Operation(
        name="collab.call_start",
        title="Start a call in a collaboration session (or get the one going)",
        input=CallInput,
        output=Call,
        permission=Permission.VIEW,  # a participant who may talk (not a guest): checked by the service
        target="{session}",
        # Editors join with the language server's codeforge.call.join (`:CodeForge call`, the
        # VS Code panel), which starts the call with your audio in it; this starts an empty one.
        palette=False,
    )
)
CALL_SHOW = declare(
    Operation(
        name="collab.call_show",
        title="Show a session's call and who is in it",
        input=CallInput,
        output=Call,
        permission=Permission.VIEW,  # a participant, or `manage`
        target="{session}",
        audit_success=False,  # a read that participant lists repeat: refusals are audited
    )
)
CALL_MUTE = declare(
    Operation(
        name="collab.call_mute",
        title="Mute (or unmute) yourself, or as host mute someone, in a call",
        input=MuteInput,
        output=Call,
        permission=Permission.VIEW,  # yourself, or the host for others
        target="{session}/{username}",
    )
)
CALL_END = declare(
    Operation(
        name="collab.call_end",
        title="End a session's call for everyone",
        input=CallInput,
        output=Call,
        permission=Permission.VIEW,  # the host, or `manage`
        destructive=True,
        target="{session}",
    )
)
CALL_JOIN = declare(
    Operation(
        name="collab.call_join",
        title="Check a user may join a session's call (the bridge, before the call websocket)",
        input=CallInput,
        output=CallJoined,
        permission=Permission.VIEW,  # a guest (an organization viewer) listens
        target="{session}",
        palette=False,
    )
)
CALL_REPORT = declare(
    Operation(
        name="collab.call_report",
        title="Report a call's participants (the bridge, with its own token)",
        input=CallReportInput,
        output=CallReported,
        permission=Permission.EDIT,  # as bridges.report: the bridge runs with a developer's token
        target="{session}/{bridge}",
        audit_success=False,  # every change and every 2 s: refusals are audited, reports not
        palette=False,
    )
)
