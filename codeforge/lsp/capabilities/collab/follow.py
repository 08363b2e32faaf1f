"""Follow mode and the participants list.

`codeforge.collab.follow {username}` makes this editor follow a participant across files:
whenever they change file or line, the editor gets the standard `window/showDocument {uri,
selection, takeFocus: true}` at their cursor. Where they are comes from the rooms' presence
(`RoomHub.presence_of`: the room and awareness state they last updated), looked at a few
times a second: a showDocument goes out when the file or the line changed, or when only the
column did and a second has passed, so typing along a line does not flood the follower.
`{}` (no username) stops following. Following yourself or someone not in the session is an
error that names who can be followed.

`codeforge.collab.participants {}` lists the session's participants with the file and line
their cursor is on (`file`/`line` null when they have no document open).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pydantic import Field
from pygls.uris import from_fs_path

from codeforge.catalog.errors import BadInput, Conflict
from codeforge.collab.access import SessionState
from codeforge.collab.relative import PositionError, RelativePosition, resolve
from codeforge.collab.text import Encoding, to_position
from codeforge.lsp.capabilities.collab.documents import encoding_of, room_text
from codeforge.lsp.capabilities.collab.presence import mapper
from codeforge.lsp.capabilities.collab.state import HOOKS, CollabHost, CollabState, active_host, collab_state
from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.contributions import Contributions
from codeforge.lsp.session import CodeForgeSession

__all__ = ["COMMANDS", "contribute", "due", "follow", "list_participants", "where"]

log = logging.getLogger(__name__)

POLL = 0.1  # seconds between looks at the followed participant's presence
SAME_LINE_EVERY = 1.0  # a move along the same line is shown at most this often


@dataclass
class FollowView:
    task: asyncio.Task[Any] | None = None
    shown: tuple[str, int, int] | None = None  # (room, line, character) last shown
    shown_at: float = 0.0


class FollowArguments(CommandArguments):
    username: str | None = Field(
        default=None, min_length=1, max_length=63, description="Who to follow; leave out to stop following."
    )


class NoArguments(CommandArguments):
    pass


def _session(state: CollabState) -> SessionState:
    if state.session is None:
        raise Conflict(
            "this editor is in no collaboration session",
            fix="start one with codeforge.collab.start, or join one with codeforge.collab.join {invitation}",
        )
    return state.session


def where(ls: CodeForgeSession, username: str) -> tuple[str, int, int] | None:
    """(room name, line, character) of `username`'s cursor, in this editor's positions (its
    text of that file when it has it open, else the room's); None when they are nowhere."""
    host = ls.state(CollabHost)
    if host.hub is None:
        return None
    found = host.hub.presence_of(username)
    if found is None:
        return None
    name, awareness = found
    room = host.hub.get(name)
    if room is None:
        return None
    state = collab_state(ls)
    doc = next((d for d in state.documents.values() if d.name == name and not d.closed), None)
    shared = room_text(room)
    text = doc.text if doc is not None else shared
    encoding: Encoding = encoding_of(ls)
    cursor = awareness.get("cursor")
    if not isinstance(cursor, dict):
        return (name, 0, 0)  # in the file, no cursor yet: its top
    try:
        offset = resolve(room.text, RelativePosition.from_json(cursor.get("head")), deleted="collapse")
    except PositionError:
        offset = None
    if offset is None:
        return (name, 0, 0)
    if doc is not None and text != shared:  # an edit on its way to this editor
        offset = mapper(shared, text)(offset)
    line, character = to_position(text, offset, encoding)
    return (name, line, character)


def _uri(host: CollabHost, name: str) -> str:
    assert host.workspace is not None
    return from_fs_path(str(Path(host.workspace) / name)) or f"file://{host.workspace}/{name}"


def _show(ls: CodeForgeSession, target: tuple[str, int, int]) -> None:
    host = ls.state(CollabHost)
    name, line, character = target
    position = types.Position(line=line, character=character)
    params = types.ShowDocumentParams(
        uri=_uri(host, name), external=False, take_focus=True, selection=types.Range(start=position, end=position)
    )

    def answered(future: Any) -> None:
        try:
            future.result()
        except Exception as exc:  # an editor without showDocument: following cannot work there
            log.info("the editor did not show %s: %s", name, exc)

    ls.window_show_document(params).add_done_callback(answered)


def due(shown: tuple[str, int, int] | None, shown_at: float, target: tuple[str, int, int] | None, now: float) -> bool:
    """Whether the follower is moved to `target`: a new file or line at once; a move along
    the line shown last at most every SAME_LINE_EVERY seconds (typing is not a flood)."""
    if target is None or target == shown:
        return False
    if shown is not None and shown[:2] == target[:2]:
        return now - shown_at >= SAME_LINE_EVERY
    return True


def _tick(ls: CodeForgeSession, view: FollowView, username: str) -> None:
    target = where(ls, username)
    now = time.monotonic()
    if target is not None and due(view.shown, view.shown_at, target, now):
        view.shown, view.shown_at = target, now
        _show(ls, target)


async def _watch(ls: CodeForgeSession, username: str, generation: int) -> None:
    state = collab_state(ls)
    view = ls.state(FollowView)
    while state.following == username and state.generation == generation:
        try:
            _tick(ls, view, username)
        except Exception:  # a room closing under us: look again next time
            log.exception("following %s", username)
        await asyncio.sleep(POLL)


def _stop(ls: CodeForgeSession) -> None:
    view = ls.state(FollowView)
    if view.task is not None:
        view.task.cancel()
        view.task = None
    view.shown = None


def _notify(ls: CodeForgeSession) -> None:
    from codeforge.lsp.capabilities.collab.sessions import notify_state  # sessions imports documents, as we do

    notify_state(ls)


@lsp_command("codeforge.collab.follow", FollowArguments)
async def follow(ls: CodeForgeSession, args: FollowArguments) -> dict[str, Any]:
    host = active_host(ls)
    state = collab_state(ls)
    session = _session(state)
    _stop(ls)
    if args.username is None:
        state.following = None
        _notify(ls)
        return {"following": None}
    others = [p.username for p in session.participants if p.username != host.username]
    can = f"follow one of: {', '.join(others)}" if others else "nobody else is in the session yet: invite someone"
    if args.username == host.username:
        raise BadInput("you cannot follow yourself", fix=can)
    if session.participant(args.username) is None:
        raise BadInput(f"{args.username} is not a participant of this collaboration session", fix=can)
    state.following = args.username
    view = ls.state(FollowView)
    _tick(ls, view, args.username)  # where they are now, at once
    view.task = ls.spawn(_watch(ls, args.username, state.generation))
    _notify(ls)
    return {"following": args.username}


@lsp_command("codeforge.collab.participants", NoArguments)
async def list_participants(ls: CodeForgeSession, args: NoArguments) -> dict[str, Any]:
    host = active_host(ls)
    session = _session(collab_state(ls))
    out = []
    for p in session.participants:
        at = where(ls, p.username)
        out.append(
            {
                "username": p.username,
                "name": p.name,
                "color": p.color,
                "role": p.role,
                "host": p.host,
                "you": p.username == host.username,
                "file": at[0] if at else None,
                "uri": _uri(host, at[0]) if at else None,
                "line": at[1] if at else None,
            }
        )
    return {"session": session.id, "participants": out}


def _session_changed(ls: CodeForgeSession, state: CollabState) -> None:
    """Out of the session, or the followed participant left it: stop following."""
    if state.following is None:
        _stop(ls)
    elif state.session is None or state.session.participant(state.following) is None:
        state.following = None
        _stop(ls)


HOOKS.session_changed.append(_session_changed)

COMMANDS = (follow, list_participants)


def contribute(c: Contributions) -> None:
    c.add(*COMMANDS)
