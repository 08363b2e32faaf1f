"""Bridge sessions, terminals and forwards: what each `codeforge bridge` holds, visible and
closable like every other resource.

A bridge calls `bridges.attach` with the editor's token on every websocket handshake (is
this user allowed on this project?) and `bridges.report` with its own token every few
seconds (what it holds; the answer carries the close requests people made since). Editors
and the CLI call `bridges.list` and `bridges.close`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from codeforge.catalog.base import Input, Operation, Permission, ProjectInput, declare

__all__ = [
    "ATTACH",
    "CLOSE",
    "ID_PATTERN",
    "LIST",
    "READ_ONLY_CHANNELS",
    "REPORT",
    "AttachInput",
    "Attached",
    "BridgeInfo",
    "BridgeList",
    "BridgeListInput",
    "BridgeSession",
    "CloseInput",
    "CloseKind",
    "CloseRequest",
    "CloseResult",
    "ReportInput",
    "ReportResult",
    "ReportedResource",
    "ReportedSession",
    "Resource",
    "ResourceKind",
]

# Ids the bridge and `codeforge connect` make (hex, uuids, "8000:9000"): printable, no spaces,
# nothing a shell, a URL query or a log line would have to quote.
ID_PATTERN = r"^[A-Za-z0-9_.:@+-]{1,128}$"
_ID_HELP = "letters, digits and _ . : @ + - (at most 128)"

# The channels an organization viewer may open: the language server (whose edits reach the
# workspace only through a collaboration room, where a guest's are refused), the rooms, and
# calls (a guest listens and watches; the call server never mixes a guest's audio).
READ_ONLY_CHANNELS = frozenset({"lsp", "collab", "call"})

ResourceKind = Literal["terminal", "forward", "debug"]
CloseKind = Literal["session", "terminal", "forward", "debug"]
SessionState = Literal["connected", "reconnecting"]
# What `bridges.list` shows: a session of a bridge that stopped reporting is `stale`.
ListedState = Literal["connected", "reconnecting", "stale"]


def _id(what: str, values: str = "") -> Any:
    if values:  # editors offer the ids this list operation shows
        return Field(
            pattern=ID_PATTERN, description=f"{what}: {_ID_HELP}.", json_schema_extra={"x-codeforge-values": values}
        )
    return Field(pattern=ID_PATTERN, description=f"{what}: {_ID_HELP}.")


class AttachInput(ProjectInput):
    bridge: str = _id("Id of the bridge the editor connects to")
    session: str = _id("Id of the editor's session (one per `codeforge connect`)")
    channel: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,31}$",
        description="Channel the editor opens: lsp, lsp-proxy, sync, terminal, ports, forward, ssh, dap, collab, call.",
    )
    client: str = Field(default="", max_length=200, description="The editor's client address, for the audit log.")


class Attached(BaseModel):
    username: str
    role: str
    organization: str


class ReportedResource(Input):
    kind: ResourceKind = Field(description="terminal, forward or debug (a debug session).")
    id: str = _id("Id of the terminal, forward or debug session")
    label: str = Field(default="", max_length=500, description="What a person sees: the command, the ports.")


class ReportedSession(Input):
    id: str = _id("Session id")
    username: str = Field(min_length=1, max_length=63, description="The member the session belongs to.")
    opened_at: datetime = Field(description="When the session opened (ISO 8601, with a time zone).")
    state: SessionState = Field(description="connected, or reconnecting within the grace period.")
    channels: list[str] = Field(default_factory=list, max_length=64, description="Open channels.")
    resources: list[ReportedResource] = Field(default_factory=list, max_length=1000)


class ReportInput(ProjectInput):
    bridge: str = _id("Id of the reporting bridge")
    url: str = Field(default="", max_length=2000, description="Where editors reach the bridge (ws:// or wss://).")
    workspace: str = Field(default="", max_length=4096, description="The folder the bridge serves.")
    sessions: list[ReportedSession] = Field(
        max_length=5000,
        description="Every session the bridge holds now (JSON): id, username, opened_at, state, channels, resources.",
    )


class CloseRequest(BaseModel):
    kind: CloseKind
    id: str


class ReportResult(BaseModel):
    close: list[CloseRequest] = Field(description="Close requests for this bridge, each delivered once.")


class BridgeListInput(ProjectInput):
    pass


class Resource(BaseModel):
    id: str
    label: str
    closing: bool = Field(default=False, description="A close request waits for the bridge.")


class BridgeSession(BaseModel):
    # In the order a table shows them when the terminal is too narrow for all.
    id: str
    username: str
    state: ListedState
    terminals: list[Resource]
    forwards: list[Resource]
    debug: list[Resource] = Field(default_factory=list, description="Debug sessions (DAP) this session holds.")
    bridge: str
    channels: list[str]
    opened_at: datetime
    last_seen: datetime = Field(description="When the bridge last reported this session.")
    closing: bool = Field(default=False, description="A close request waits for the bridge.")


class BridgeInfo(BaseModel):
    id: str
    url: str
    workspace: str
    last_seen: datetime
    state: Literal["live", "stale"]


class BridgeList(BaseModel):
    items: list[BridgeSession]
    bridges: list[BridgeInfo]


class CloseInput(ProjectInput):
    kind: CloseKind = Field(description="What to close: session, terminal, forward or debug.")
    id: str = _id("Id of the session, terminal, forward or debug session", "bridges.list#id")


class CloseResult(BaseModel):
    kind: CloseKind
    id: str
    bridge: str
    requested: bool = Field(description="The bridge closes it at its next report (within seconds).")


ATTACH = declare(
    Operation(
        name="bridges.attach",
        title="Check an editor may open a bridge session",
        input=AttachInput,
        output=Attached,
        # A viewer may open only READ_ONLY_CHANNELS (a read-only guest of a collaboration
        # session); the operation refuses the rest, which give a shell in the workspace.
        permission=Permission.VIEW,
        target="{project}/{session}/{channel}",
        palette=False,  # the bridge calls it, on every websocket
    )
)
REPORT = declare(
    Operation(
        name="bridges.report",
        title="Report what a bridge holds",
        input=ReportInput,
        output=ReportResult,
        permission=Permission.EDIT,
        target="{project}/{bridge}",
        audit_success=False,  # every 2 s per bridge: refusals are audited, routine reports not
        palette=False,
    )
)
LIST = declare(
    Operation(
        name="bridges.list",
        title="List bridge sessions, terminals and forwards",
        input=BridgeListInput,
        output=BridgeList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
CLOSE = declare(
    Operation(
        name="bridges.close",
        title="Close a bridge session, terminal or forward",
        input=CloseInput,
        output=CloseResult,
        # Your own; closing another member's also needs `manage` (checked by the service).
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{kind}/{id}",
    )
)
