"""The collaboration state of one language-server session (one editor), shared by every
module of this package (sessions, documents, conflicts; presence, follow, comments, review).

Shape (keep it stable: the sibling modules read and write these fields):

    ls.state(CollabHost)                 what the bridge handed the session (bridge/lsp.py)
        .hub: RoomHub | None             the bridge's rooms; None outside a bridge (inactive)
        .access: Access | None           the bridge's registry of sessions and roles
        .username, .organization: str    who the editor's user is (the link's token)
        .workspace: Path | None          the served folder (room names are relative to it)
        .calls: CallServer | None        the bridge's calls (voice and video, docs/voice.md)
        .rejoin: str | None              collab session to rejoin (initializationOptions
                                         `collabSession`, which the relay of `codeforge
                                         connect` fills when it replays after a restart)
    ls.state(CollabState)
        .session: SessionState | None    the joined session, as the bridge's Access has it
        .participant: Participant | None this editor's user in it
        .info: dict                      the platform's session object (title, host, …)
        .following: str | None           username followed (follow.py sets it)
        .documents: dict[uri, DocSync]   every open document of the editor in the session
        .origin: SessionOrigin           the origin of this session's room transactions
        .generation: int                 bumped at every join/leave (stale tasks check it)
        .unsubscribe                     from Access.on_change while in a session
        .ticker                          the task running while in a session (conflicts,
                                         re-admission; its end releases the rooms)
        .rejoin_tried, .last_sent, .conflicts_told, .warned   bookkeeping (once-only things)
    DocSync (one open document in a room)
        .uri, .name                      the editor's URI (workspace side) and the room name
        .room: Room | None               None while joining
        .client_id: int                  this editor's awareness client id in the room
        .text: str                       the editor's text as it last said (its shadow)
        .version: int                    the editor's version of that text
        .pending: PendingEdit | None     the one workspace/applyEdit in flight
        .in_sync: bool                   `text` is known to equal the room's text
        .dirty: bool                     the room changed since the last applyEdit was made
        .anchor: (line, char, byte)      a line start of `text` (positions.py), moved with it;
                                         reset it to (0, 0, 0) if `text` is replaced
        .opened: str                     the text when it came to the session
        .refused_told, .flush_due, .bare_refusals   bookkeeping
        .release: list[callable]         what leaving the room undoes (observers, hold,
                                         awareness); sibling modules append their own
        .closed: bool                    left its room (late callbacks do nothing)
        .ready: asyncio.Event            set once the room is joined (or joining gave up)
    PendingEdit (the applyEdit in flight)
        .version, .base, .expected       the editor's version and text when sent, the text after
        .held: list                      the editor's content changes since (not in the room yet)
        .answered: bool | None           the editor's answer, when it came

`HOOKS` lets sibling modules hear of documents joining and leaving a room and of session
changes without this package's core knowing them; each hook gets `(ls, state, doc)` or
`(ls, state)`; a failing hook is logged, never stops the sync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeforge.catalog.errors import Conflict
from codeforge.lsp.session import CodeForgeSession

if TYPE_CHECKING:
    from codeforge.collab.access import Access, Participant, SessionState
    from codeforge.collab.room import Room
    from codeforge.collab.rooms import RoomHub

__all__ = [
    "HOOKS",
    "NOT_IN_BRIDGE",
    "CollabHost",
    "CollabState",
    "DocSync",
    "Hooks",
    "PendingEdit",
    "SessionOrigin",
    "active_host",
    "collab_state",
]

log = logging.getLogger(__name__)

NOT_IN_BRIDGE = "connect to a workspace first (codeforge connect URL)"


@dataclass
class CollabHost:
    """Handed over by the bridge (`ls.provide(CollabHost(...))`); an empty one (made by
    `ls.state`) means the session runs outside a bridge and collaboration is off."""

    hub: RoomHub | None = None
    access: Access | None = None
    username: str = ""
    organization: str = ""
    workspace: Path | None = None
    rejoin: str | None = None
    calls: Any = None  # codeforge.collab.rtc.CallServer of the bridge (docs/voice.md), or None


class SessionOrigin:
    """The origin of a language-server session's room transactions: its own edits come back
    through the room's observer with it, and are not sent to the editor again."""

    def __init__(self, username: str = "") -> None:
        self.username = username

    def __repr__(self) -> str:
        return f"<lsp session of {self.username or '?'} {id(self):x}>"


@dataclass
class PendingEdit:
    """The applyEdit in flight: sent at editor `version`, when its text was `base`; the
    editor's text is `expected` once applied. Editor changes that arrive meanwhile are
    `held` (not yet in the room) until it is known whether they include the edit."""

    version: int
    base: str
    expected: str
    held: list[Any] = field(default_factory=list)  # content changes, in order
    answered: bool | None = None  # None: no answer yet; True applied; False refused
    # The edit as sent: (start line, start character, end line, end character, new text) of
    # each TextEdit, sorted. The editor reports it back as content changes with the same
    # ranges and texts, which is how its echo is told apart from typing around it.
    sent: tuple[tuple[int, int, int, int, str], ...] = ()


@dataclass(eq=False)
class DocSync:
    uri: str
    name: str
    text: str
    version: int
    room: Room | None = None
    client_id: int = 0
    pending: PendingEdit | None = None
    in_sync: bool = False
    dirty: bool = False  # the room changed (someone else) since the last applyEdit was made
    refused_told: bool = False  # a refused edit was shown; again only after a resync
    flush_due: bool = False
    bare_refusals: int = 0  # applyEdits refused in a row with nothing typed meanwhile
    release: list[Callable[[], None]] = field(default_factory=list)
    closed: bool = False
    opened: str = ""  # the text when it came to the session (typing since then is the user's)
    anchor: tuple[int, int, int] = (0, 0, 0)  # a line start of `text` (positions.py): line, char, byte
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # set once joined (or given up)


@dataclass
class CollabState:
    session: SessionState | None = None
    participant: Participant | None = None
    info: dict[str, Any] = field(default_factory=dict)
    following: str | None = None
    documents: dict[str, DocSync] = field(default_factory=dict)
    origin: SessionOrigin = field(default_factory=SessionOrigin)
    generation: int = 0
    rejoin_tried: bool = False
    last_sent: dict[str, Any] | None = None  # the last codeforge/collab/state (not sent twice)
    conflicts_told: set[str] = field(default_factory=set)  # conflict ids already shown
    warned: set[str] = field(default_factory=set)  # one-time warnings already shown
    ticker: Any = None  # the task that looks for conflicts while in a session
    unsubscribe: Callable[[], None] | None = None  # from the Access registry's on_change

    @property
    def session_id(self) -> str | None:
        return self.session.id if self.session is not None else None


DocHook = Callable[[CodeForgeSession, CollabState, DocSync], None]
SessionHook = Callable[[CodeForgeSession, CollabState], None]


@dataclass
class Hooks:
    """Sibling modules register here at import time (`HOOKS.document_joined.append(f)`)."""

    document_joined: list[DocHook] = field(default_factory=list)  # its room is ready
    document_left: list[DocHook] = field(default_factory=list)  # before its room is let go
    document_changed: list[DocHook] = field(default_factory=list)  # the editor's text changed
    session_changed: list[SessionHook] = field(default_factory=list)  # after the state notification

    def run(self, hooks: list[Any], *args: Any) -> None:
        for hook in list(hooks):
            try:
                hook(*args)
            except Exception:
                log.exception("collab hook %s failed", getattr(hook, "__qualname__", hook))


HOOKS = Hooks()


def collab_state(ls: CodeForgeSession) -> CollabState:
    return ls.state(CollabState)


def active_host(ls: CodeForgeSession) -> CollabHost:
    """The bridge's hand-over, or the error every command answers outside a bridge."""
    host = ls.state(CollabHost)
    if host.hub is None or host.access is None:
        raise Conflict(
            f"collaboration runs in a workspace's bridge: {NOT_IN_BRIDGE}",
            fix="run the editor's language server through `codeforge connect URL` (the workspace's bridge)",
        )
    return host
