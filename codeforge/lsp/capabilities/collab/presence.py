"""Presence in the editors: where everyone's cursors are.

Editor → server, `codeforge/collab/cursor {uri, selections: [{anchor, head}], visibleRange?}`
(positions in the negotiated encoding, sent on selection change and on focusing another
file) becomes this participant's awareness state in that document's room: who (`user`:
name, colour, username as `id`), `role`, `file`, `cursor` (the first selection) and
`selections` as Yjs relative positions, so they stay on their characters while others type,
and `viewport` (first and last visible line). Focusing another file clears the state in the
previous file's room.

Server → editor, `codeforge/collab/presence {uri, participants: [{username, name, color, role,
clientId, selections: [{anchor, head}], visibleRange?}]}`: everyone else's state in that
document's room, the positions turned into this editor's (relative position → byte offset
in the room's text → position in the editor's text, in its encoding). Sent when a document
joins its room (a late joiner sees who is there at once), on every change of the room's
presence or text (coalesced over a few milliseconds), and with an empty list when the
document leaves its room. Yjs clients' states (`user {name, color}`, `cursor {anchor, head}`
as `Y.relativePositionToJSON`) are shown the same way.

Leaving: leaving the session takes the states out with the documents (`document_left`); a
dropped link, which the bridge holds open a while for the editor to resume, takes them out
at once (and puts them back if it resumes); the end of the language-server session takes
them out for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from codeforge.collab.presence import presence_state
from codeforge.collab.relative import PositionError, RelativePosition, create, resolve
from codeforge.collab.text import Edit, Encoding, diff, to_offset, to_position
from codeforge.lsp.capabilities.collab.documents import encoding_of, map_edit, room_text
from codeforge.lsp.capabilities.collab.state import HOOKS, CollabHost, CollabState, DocSync, collab_state
from codeforge.lsp.contributions import Contributions, Notification
from codeforge.lsp.session import CodeForgeSession

__all__ = [
    "CURSOR",
    "PRESENCE",
    "CursorParams",
    "contribute",
    "cursor_offsets",
    "editor_attached",
    "mapper",
    "on_cursor",
    "participants",
    "send_presence",
]

log = logging.getLogger(__name__)

CURSOR = "codeforge/collab/cursor"
PRESENCE = "codeforge/collab/presence"
# Changes within this many seconds go out as one notification per document.
COALESCE = 0.03
LINK_POLL = 0.2  # seconds between looks at whether the editor's link is attached
MAX_SELECTIONS = 100


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Position(_Model):
    line: int = Field(ge=0)
    character: int = Field(ge=0)


class Selection(_Model):
    anchor: Position
    head: Position


class Range(_Model):
    start: Position
    end: Position


class CursorParams(_Model):
    uri: str = Field(min_length=1)
    selections: list[Selection] = Field(default_factory=list, max_length=MAX_SELECTIONS)
    visible_range: Range | None = Field(default=None, alias="visibleRange")


@dataclass
class PresenceView:
    """One session's presence bookkeeping: the document its cursor is in, what was last
    sent per document, and which documents have a send due."""

    active: DocSync | None = None
    waiting: dict[str, CursorParams] = field(default_factory=dict)  # cursors of documents joining
    hidden: dict[str, Any] = field(default_factory=dict)  # states taken out while the link is down
    watch: asyncio.Task[Any] | None = None
    sent: dict[str, Any] = field(default_factory=dict)
    due: set[str] = field(default_factory=set)


# -- editor → room ------------------------------------------------------------------------------


def cursor_offsets(text: str, selections: list[Selection], encoding: Encoding) -> list[tuple[int, int]]:
    """The selections' (anchor, head) as byte offsets of `text`, clamped to it."""
    return [
        (
            to_offset(text, s.anchor.line, s.anchor.character, encoding),
            to_offset(text, s.head.line, s.head.character, encoding),
        )
        for s in selections
    ]


def _state_for(ls: CodeForgeSession, state: CollabState, doc: DocSync) -> dict[str, Any]:
    """This participant's awareness state for `doc` without a cursor: who, role, file."""
    host = ls.state(CollabHost)
    participant = state.participant
    return presence_state(
        name=participant.name if participant else host.username,
        color=participant.color if participant else "",
        user_id=host.username,
        role=participant.role if participant else "guest",
        file=doc.name,
        talking=_talking(ls, state),
    )


def _talking(ls: CodeForgeSession, state: CollabState) -> bool:
    """Whether this editor's user talks in the session's call now (the mixer's voice
    activity, docs/voice.md): part of their presence, so Yjs clients see it too."""
    host = ls.state(CollabHost)
    call = host.calls.call(state.session_id) if host.calls is not None and state.session_id else None
    if call is None:
        return False
    return any(p["username"] == host.username and p["talking"] and not p["muted"] for p in call.state()["participants"])


def set_talking(ls: CodeForgeSession, talking: bool) -> None:
    """The call's voice activity into the awareness state of the document the editor's
    cursor is in (call.py, on every change of the call)."""
    doc = ls.state(PresenceView).active
    if doc is None or doc.room is None or doc.closed:
        return
    current = doc.room.presence.state(doc.client_id)
    if current is not None and bool(current.get("talking")) != talking:
        doc.room.presence.set(doc.client_id, {**current, "talking": talking})


def on_cursor(ls: CodeForgeSession, params: Any) -> None:
    """`codeforge/collab/cursor`: the editor's selections into the room's awareness."""
    try:
        cursor = CursorParams.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors()[:3])
        _warn(ls, f"{CURSOR} ignored: {problems} (expected {{uri, selections: [{{anchor, head}}], visibleRange?}})")
        return
    state = collab_state(ls)
    view = ls.state(PresenceView)
    doc = state.documents.get(cursor.uri)
    if doc is not None and doc.room is None and not doc.closed:
        view.waiting[doc.uri] = cursor  # still joining its room: set once it has
        return
    if doc is None or doc.room is None or doc.closed:
        # A file outside the session (not shared, or not open): the cursor left the old one.
        _clear_active(view)
        return
    _set_cursor(ls, state, view, doc, cursor)


def _set_cursor(
    ls: CodeForgeSession, state: CollabState, view: PresenceView, doc: DocSync, cursor: CursorParams
) -> None:
    assert doc.room is not None
    if view.active is not None and view.active is not doc:
        _clear_active(view)
    view.active = doc
    room = doc.room
    encoding = encoding_of(ls)
    awareness = _state_for(ls, state, doc)
    onto_room = mapper(doc.text, room_text(room))
    positions = []
    for anchor, head in cursor_offsets(doc.text, cursor.selections, encoding):
        positions.append(
            {
                "anchor": create(room.text, onto_room(anchor)).to_json(),
                "head": create(room.text, onto_room(head)).to_json(),
            }
        )
    if positions:
        awareness["cursor"] = positions[0]
        awareness["selections"] = positions
    if cursor.visible_range is not None:
        awareness["viewport"] = [cursor.visible_range.start.line, cursor.visible_range.end.line]
    room.presence.set(doc.client_id, awareness)


def _clear_active(view: PresenceView) -> None:
    doc, view.active = view.active, None
    if doc is not None and doc.room is not None and not doc.closed:
        doc.room.presence.set(doc.client_id, None)


def _warn(ls: CodeForgeSession, message: str) -> None:
    log.info("%s", message)
    ls.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=f"CodeForge: {message}"))


# -- room → editor ------------------------------------------------------------------------------


def mapper(source: str, target: str) -> Callable[[int], int]:
    """Byte offsets of `source` moved onto `target` (the editor's text and the room's differ
    while an edit is on its way: the same place, across what one has and the other lacks)."""
    if source == target:
        return lambda offset: offset
    lag = diff(source, target)
    return lambda offset: map_edit(Edit(offset, offset, ""), lag).start


def _point(
    room_text: Any, editor_text: str, data: Any, encoding: Encoding, onto_editor: Callable[[int], int]
) -> dict[str, int] | None:
    try:
        position = RelativePosition.from_json(data)
    except PositionError:
        return None
    offset = resolve(room_text, position, deleted="collapse")
    if offset is None:
        return None
    line, character = to_position(editor_text, onto_editor(offset), encoding)
    return {"line": line, "character": character}


def participant_of(
    state: CollabState,
    client: int,
    awareness: dict[str, Any],
    room_text: Any,
    editor_text: str,
    encoding: Encoding,
    onto_editor: Callable[[int], int] = lambda offset: offset,
) -> dict[str, Any]:
    """One awareness state as the editor shows it."""
    found = awareness.get("user")
    user: dict[str, Any] = found if isinstance(found, dict) else {}
    username = str(user.get("id") or user.get("name") or f"client {client}")
    known = state.session.participant(username) if state.session is not None else None
    selections = awareness.get("selections")
    if not isinstance(selections, list):
        cursor = awareness.get("cursor")
        selections = [cursor] if isinstance(cursor, dict) else []
    shown = []
    for selection in selections[:MAX_SELECTIONS]:
        if not isinstance(selection, dict):
            continue
        anchor = _point(room_text, editor_text, selection.get("anchor"), encoding, onto_editor)
        head = _point(room_text, editor_text, selection.get("head"), encoding, onto_editor)
        if anchor is not None and head is not None:
            shown.append({"anchor": anchor, "head": head})
    out: dict[str, Any] = {
        "username": username,
        "name": str(user.get("name") or (known.name if known else username)),
        "color": str(user.get("color") or (known.color if known else "")),
        "role": awareness.get("role") or (known.role if known else None),
        "clientId": client,
        "selections": shown,
        "talking": awareness.get("talking") is True,  # in the session's call (docs/voice.md)
    }
    viewport = awareness.get("viewport")
    if isinstance(viewport, list) and len(viewport) == 2 and all(isinstance(v, int) and v >= 0 for v in viewport):
        out["visibleRange"] = {
            "start": {"line": viewport[0], "character": 0},
            "end": {"line": viewport[1], "character": 0},
        }
    return out


def participants(ls: CodeForgeSession, state: CollabState, doc: DocSync) -> list[dict[str, Any]]:
    """Everyone but this editor in `doc`'s room, in this editor's positions."""
    room = doc.room
    if room is None or doc.closed:
        return []
    encoding = encoding_of(ls)
    others = [(c, a) for c, a in sorted(room.presence.states.items()) if c != doc.client_id and isinstance(a, dict)]
    if not others:
        return []
    onto_editor = mapper(room_text(room), doc.text)
    out = []
    for client, awareness in others:
        try:
            out.append(participant_of(state, client, awareness, room.text, doc.text, encoding, onto_editor))
        except Exception:  # one client's odd state must not hide the others
            log.exception("presence of client %s in %s could not be shown", client, doc.name)
    return out


def send_presence(ls: CodeForgeSession, doc: DocSync, *, force: bool = False) -> None:
    """Send `doc`'s presence now (unless it is what was sent last)."""
    view = ls.state(PresenceView)
    view.due.discard(doc.uri)
    if doc.closed:
        return
    payload = {"uri": doc.uri, "participants": participants(ls, collab_state(ls), doc)}
    if not force and view.sent.get(doc.uri) == payload:
        return
    view.sent[doc.uri] = payload
    ls.protocol.notify(PRESENCE, payload)


def _schedule(ls: CodeForgeSession, doc: DocSync) -> None:
    view = ls.state(PresenceView)
    if doc.uri in view.due or doc.closed:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    view.due.add(doc.uri)
    loop.call_later(COALESCE, _send_due, ls, doc)


def _send_due(ls: CodeForgeSession, doc: DocSync) -> None:
    if doc.uri in ls.state(PresenceView).due:
        try:
            send_presence(ls, doc)
        except Exception:
            log.exception("presence of %s could not be sent", doc.uri)


# -- the editor's link ---------------------------------------------------------------------------


def editor_attached(ls: CodeForgeSession) -> bool | None:
    """Whether the editor is connected now: the bridge's link under this session (its pygls
    writer holds it) is attached; None where the session has no link (stdio)."""
    link = getattr(getattr(ls.protocol, "writer", None), "link", None)
    if link is None:
        return None
    return bool(getattr(link, "attached", False)) and not bool(getattr(link, "closed", False))


def _hide(ls: CodeForgeSession) -> None:
    """The editor is gone (its link dropped, or the session ended): its states leave every
    room now, kept to be put back if the link resumes."""
    view = ls.state(PresenceView)
    for doc in list(collab_state(ls).documents.values()):
        room = doc.room
        if room is None or doc.closed or doc.uri in view.hidden:
            continue
        view.hidden[doc.uri] = room.presence.state(doc.client_id)
        room.presence.set(doc.client_id, None)


def _unhide(ls: CodeForgeSession) -> None:
    view = ls.state(PresenceView)
    hidden, view.hidden = view.hidden, {}
    for uri, awareness in hidden.items():
        doc = collab_state(ls).documents.get(uri)
        if doc is not None and doc.room is not None and not doc.closed and awareness is not None:
            doc.room.presence.set(doc.client_id, awareness)


async def _watch_link(ls: CodeForgeSession) -> None:
    """A dropped link is held open for a while for the editor to resume it; its cursors
    must not stay on everyone's screens meanwhile. When the session ends (the bridge cancels
    its tasks) they go for good."""
    try:
        while True:
            attached = editor_attached(ls)
            view = ls.state(PresenceView)
            if attached is False and not view.hidden:
                _hide(ls)
            elif attached and view.hidden:
                _unhide(ls)
            await asyncio.sleep(LINK_POLL)
    finally:
        _hide(ls)


def _joined(ls: CodeForgeSession, state: CollabState, doc: DocSync) -> None:
    room = doc.room
    if room is None:
        return
    view = ls.state(PresenceView)
    if view.watch is None and editor_attached(ls) is not None:
        view.watch = ls.spawn(_watch_link(ls))
    doc.release.append(room.presence.observe(lambda _room, _clients: _schedule(ls, doc)))

    def text_changed(_room: Any, _event: Any, _origin: Any) -> None:
        if len(room.presence.states) > 1:  # others' cursors moved with the text
            _schedule(ls, doc)

    doc.release.append(room.observe(text_changed))
    send_presence(ls, doc, force=True)  # who is there already, at once
    waiting = view.waiting.pop(doc.uri, None)
    if waiting is not None:  # the editor put its cursor there while the document was joining
        _set_cursor(ls, state, view, doc, waiting)


def _left(ls: CodeForgeSession, state: CollabState, doc: DocSync) -> None:
    view = ls.state(PresenceView)
    if view.active is doc:
        _clear_active(view)
    view.waiting.pop(doc.uri, None)
    view.hidden.pop(doc.uri, None)
    view.due.discard(doc.uri)
    if view.sent.pop(doc.uri, None) is not None:
        ls.protocol.notify(PRESENCE, {"uri": doc.uri, "participants": []})


HOOKS.document_joined.append(_joined)
HOOKS.document_left.append(_left)


def contribute(c: Contributions) -> None:
    c.add(Notification(CURSOR, on_cursor))
