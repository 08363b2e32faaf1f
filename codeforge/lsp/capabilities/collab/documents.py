"""Document sync between one editor and the rooms: the editor's edits into the room's CRDT
document, everyone else's back to the editor as `workspace/applyEdit`.

Two copies of a document meet here: the editor's text (`DocSync.text`, exactly as the editor
said it: every didChange is applied to it in the negotiated position encoding) and the
room's. While they are equal (`in_sync`) an editor's change goes into the room at the same
byte offsets. When the room has changes the editor has not got yet, an editor's change is
moved onto the room's text through the minimal diff between the two (a change inside a
region someone else replaced lands at the end of that region), so nothing lands at the
wrong place and nothing is typed twice.

Remote changes reach the editor one `applyEdit` at a time per document: a versioned
`TextDocumentEdit` at the editor's current version, made from the diff between its text and
the room's. While it is in flight, the editor's didChanges are held (kept out of the room):

- a run of content changes with exactly the edit's ranges and texts is its echo (never
  applied to the room again): the held changes before it were the user's, typed before the
  editor applied the edit (an editor that answers before it reports its changes, or that
  checked the version before the user typed, applies it anyway), and go into the room; the
  ones after it are the user's too;
- when the editor's text becomes the edit's expected text, the changes up to there were the
  edit's echo and the ones after it are the user's;
- when the editor refuses the edit (the user typed: the version moved on), the held changes
  are all the user's: they go into the room and a new edit is computed from the room's text,
  so a buffer that fell behind resynchronises instead of diverging;
- when the editor says it applied the edit but no echo came within ECHO_WAIT (one that
  skipped an edit for an older version yet answered `applied`, or that reported the echo in
  another shape), the user's own changes are the diff from whichever of the before/after
  texts is nearer, and the next edit repairs the rest. Settling before the echo came would
  take the echo, when it comes, for typing: the remote text twice.

Joining a room: when others are in it already their text wins (the editor gets an
applyEdit); otherwise the editor's text goes into the room as a minimal diff. A guest's
changes are refused: not applied, the editor is told (a warning naming the role) and its
buffer is put back to the room's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import weakref
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from codeforge.collab.presence import presence_state
from codeforge.collab.room import Room
from codeforge.collab.rooms import RoomPathError, check_room_name
from codeforge.collab.text import Edit, Encoding, apply_to_ytext, diff
from codeforge.lsp.capabilities.collab.positions import START, Anchor, change_span, lsp_edits, splice
from codeforge.lsp.capabilities.collab.state import (
    HOOKS,
    CollabHost,
    CollabState,
    DocSync,
    PendingEdit,
    collab_state,
)
from codeforge.lsp.contributions import Contributions, DocumentEvent, DocumentSubscriber
from codeforge.lsp.session import CodeForgeSession

__all__ = [
    "contribute",
    "encoding_of",
    "flush",
    "join_all",
    "join_document",
    "leave_all",
    "leave_document",
    "map_edit",
    "room_name",
    "room_text",
]

log = logging.getLogger(__name__)

# Seconds an editor that answered `applied: true` has to report the edit's didChange.
ECHO_WAIT = 5.0


# -- pure helpers -----------------------------------------------------------------------------


def encoding_of(ls: CodeForgeSession) -> Encoding:
    """The position encoding the session negotiated (LSP's default: UTF-16)."""
    try:
        negotiated = ls.workspace.position_encoding
    except RuntimeError:  # not initialized
        return "utf-16"
    value = str(getattr(negotiated, "value", negotiated) or "utf-16")
    return value if value in ("utf-8", "utf-32") else "utf-16"  # type: ignore[return-value]


def room_name(host: CollabHost, uri: str) -> str | None:
    """The room of a document: its path relative to the workspace (posix); None for a
    document that is not a shareable file of the workspace."""
    if host.workspace is None or not uri.startswith("file:"):
        return None
    path = to_fs_path(uri)
    if not path:
        return None
    try:
        relative = Path(path).resolve().relative_to(host.workspace.resolve())
        return check_room_name(relative.as_posix())
    except (ValueError, RoomPathError):
        return None


def _advance(doc: DocSync, change: Any, encoding: Encoding) -> list[Edit]:
    """Apply one didChange content change to the editor's text (`doc.text`); its byte-offset
    edits of the text before it. A whole-document change (an editor syncing in full) is
    turned into the minimal diff, so the rest of the document keeps its CRDT identity
    (cursors and comment anchors on it, others' concurrent edits around it)."""
    if getattr(change, "range", None) is None:
        before, doc.text, doc.anchor = doc.text, change.text, START
        return diff(before, doc.text)
    span, anchor = change_span(doc.text, doc.anchor, change, encoding)
    doc.text, doc.anchor = splice(doc.text, anchor, span)
    return [span.edit]


def _replay(text: str, changes: list[Any], encoding: Encoding) -> list[tuple[str, list[Edit]]]:
    """Content changes applied in order from `text`: (the text each found, its edits)."""
    steps: list[tuple[str, list[Edit]]] = []
    anchor: Anchor = START
    for change in changes:
        if getattr(change, "range", None) is None:
            steps.append((text, diff(text, change.text)))
            text, anchor = change.text, START
            continue
        span, anchor = change_span(text, anchor, change, encoding)
        steps.append((text, [span.edit]))
        text, anchor = splice(text, anchor, span)
    return steps


def map_edit(edit: Edit, lag: list[Edit]) -> Edit:
    """`edit` (offsets of the editor's text) moved onto the room's text, where `lag` is the
    diff from the editor's text to the room's. Before a lag region nothing moves; after it,
    offsets shift by its growth; inside a region another participant replaced, the offset
    goes to that region's end (their text stays, this edit comes after it)."""
    if not lag:
        return edit

    def point(offset: int) -> int:
        shift = 0
        for region in lag:
            grows = len(region.text.encode()) - (region.end - region.start)
            if region.end <= offset:
                shift += grows
            elif region.start < offset:
                return region.start + shift + len(region.text.encode())
            else:
                break
        return offset + shift

    start = point(edit.start)
    return Edit(start, max(start, point(edit.end)), edit.text)


def _cost(edits: list[Edit]) -> int:
    return sum(e.end - e.start + len(e.text.encode()) for e in edits)


class _RoomText:
    """A room's text as a `str`, read once per change for every editor in the room (reading
    5 MB costs 5-8 ms). Invalidated by the room's observer, which runs as each transaction
    commits; so read it only outside a transaction on the room."""

    def __init__(self, room: Room) -> None:
        self.text: str | None = None
        room.observe(self._changed)  # lives as long as the room

    def _changed(self, _room: Any, _event: Any, _origin: Any) -> None:
        self.text = None


_ROOM_TEXTS: weakref.WeakKeyDictionary[Room, _RoomText] = weakref.WeakKeyDictionary()


def room_text(room: Room) -> str:
    cache = _ROOM_TEXTS.get(room)
    if cache is None:
        cache = _ROOM_TEXTS[room] = _RoomText(room)
    if cache.text is None:
        cache.text = str(room.text)
    return cache.text


# -- into the room ----------------------------------------------------------------------------


def _may_edit(ls: CodeForgeSession, state: CollabState) -> bool:
    host = ls.state(CollabHost)
    return bool(
        state.session is not None and host.access is not None and host.access.may_edit(state.session.id, host.username)
    )


def _refuse(ls: CodeForgeSession, state: CollabState, doc: DocSync) -> None:
    """A change the user may not make: not applied; the editor is told once per episode
    and gets its buffer back (the next flush sends the room's text)."""
    doc.in_sync = False
    if not doc.refused_told:
        doc.refused_told = True
        role = state.participant.role if state.participant is not None else "not a participant"
        why = "a guest (read only)" if role == "guest" else f"{role}, and only the driver edits in pair mode"
        if state.session is not None and state.session.state != "active":
            why = "in a session that ended"
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning,
                message=f"CodeForge: your edit of {doc.name} was not applied: you are {why}; "
                "the text is put back to the session's",
            )
        )
    _schedule_flush(ls, state, doc)


def _ship(ls: CodeForgeSession, state: CollabState, doc: DocSync, source: str, edits: list[Edit]) -> None:
    """Put the user's `edits` (offsets of `source`, ascending, not overlapping) into the
    room, moved onto its current text; refused for a user who may not edit."""
    room = doc.room
    if not edits or room is None:
        return
    if not _may_edit(ls, state):
        _refuse(ls, state, doc)
        return
    with room.local(state.origin) as text:
        current = str(text) if not doc.in_sync else source
        lag = diff(source, current) if current != source else []
        apply_to_ytext(text, [map_edit(e, lag) for e in edits])


def _push(ls: CodeForgeSession, state: CollabState, doc: DocSync, changes: list[Any], encoding: Encoding) -> None:
    """The user's didChange content changes, in order, into the room (no edit in flight)."""
    room = doc.room
    if room is None:
        for change in changes:
            _advance(doc, change, encoding)
        return
    allowed = _may_edit(ls, state)
    if not allowed:
        for change in changes:
            _advance(doc, change, encoding)
        _refuse(ls, state, doc)
        return
    with room.local(state.origin) as text:
        for change in changes:
            before = doc.text
            edits = _advance(doc, change, encoding)
            if doc.in_sync:
                apply_to_ytext(text, edits)
            else:
                current = str(text)
                lag = diff(before, current) if current != before else []
                apply_to_ytext(text, [map_edit(e, lag) for e in edits])


def did_change(ls: CodeForgeSession, event: DocumentEvent) -> None:
    state = collab_state(ls)
    doc = state.documents.get(event.uri)
    if doc is None or doc.closed:
        return
    try:
        _did_change(ls, state, doc, event.params)
    except Exception:
        # A change that could not be followed (a range that does not fit the text): the
        # editor's text is taken from the workspace's copy and the room's is sent to it,
        # rather than carrying on from a text that is not the editor's.
        log.exception("a change of %s could not be followed; resynchronising it", doc.name)
        with contextlib.suppress(Exception):
            doc.text = ls.workspace.get_text_document(doc.uri).source
        doc.anchor = START
        doc.pending = None
        doc.in_sync = False
        _schedule_flush(ls, state, doc)


def _did_change(
    ls: CodeForgeSession, state: CollabState, doc: DocSync, params: types.DidChangeTextDocumentParams
) -> None:
    encoding = encoding_of(ls)
    doc.version = params.text_document.version
    changes = list(params.content_changes)
    while changes and doc.pending is not None:
        pending = doc.pending
        echo = _echo_at(pending, changes)
        if echo is not None:  # typing first (held with the rest before the echo), then the echo
            start, end = echo
            for change in changes[:start]:
                _advance(doc, change, encoding)
                pending.held.append(change)
            for change in changes[start:end]:
                _advance(doc, change, encoding)
            changes = changes[end:]
            _echoed(ls, state, doc, pending)
            break
        change = changes.pop(0)
        _advance(doc, change, encoding)
        pending.held.append(change)
        if doc.text == pending.expected:  # the echo of our edit: never into the room again
            doc.pending = None
            doc.in_sync = not doc.dirty
            if doc.in_sync:
                doc.refused_told = False
    if changes:
        _push(ls, state, doc, changes, encoding)
    if doc.pending is None and (doc.dirty or not doc.in_sync):
        _schedule_flush(ls, state, doc)  # (not in sync: an edit refused before this change came)
    HOOKS.run(HOOKS.document_changed, ls, state, doc)


def _change_key(change: Any) -> tuple[int, int, int, int, str] | None:
    span = getattr(change, "range", None)
    if span is None:
        return None
    return (span.start.line, span.start.character, span.end.line, span.end.character, change.text)


def _echo_at(pending: PendingEdit, changes: list[Any]) -> tuple[int, int] | None:
    """Where in `changes` the run that is the pending edit's echo lies (start, end), if
    there: as many changes as the edit had, with its ranges and texts (in any order: VS Code
    reports them last first)."""
    size = len(pending.sent)
    if not size or len(changes) < size:
        return None
    keys = [_change_key(c) for c in changes]
    for start in range(len(keys) - size + 1):
        run = keys[start : start + size]
        if None not in run and tuple(sorted(run)) == pending.sent:  # type: ignore[type-var]
            return start, start + size
    return None


def _echoed(ls: CodeForgeSession, state: CollabState, doc: DocSync, pending: PendingEdit) -> None:
    """The editor reported the pending edit: what it held before the echo was the user's
    typing, made on `base`; it goes into the room now."""
    doc.pending = None
    if pending.held:
        doc.in_sync = False
        for source, edits in _replay(pending.base, pending.held, encoding_of(ls)):
            _ship(ls, state, doc, source, edits)
        _schedule_flush(ls, state, doc)  # the editor's text and the room's may still differ
        return
    doc.in_sync = not doc.dirty
    if doc.in_sync:
        doc.refused_told = False


def _release_held(ls: CodeForgeSession, state: CollabState, doc: DocSync, pending: PendingEdit) -> None:
    """The editor refused the edit: every held change was the user's, made on `base`."""
    doc.in_sync = False
    for source, edits in _replay(pending.base, pending.held, encoding_of(ls)):
        _ship(ls, state, doc, source, edits)
        if doc.in_sync is False and not _may_edit(ls, state):
            break


def _settle_applied(ls: CodeForgeSession, state: CollabState, doc: DocSync, pending: PendingEdit) -> None:
    """The editor said it applied the edit, yet its text never became the expected one:
    the user's changes are the diff from the nearer of the texts before and after."""
    doc.pending = None
    doc.in_sync = False
    after, before = diff(pending.expected, doc.text), diff(pending.base, doc.text)
    source, edits = (pending.expected, after) if _cost(after) <= _cost(before) else (pending.base, before)
    _ship(ls, state, doc, source, edits)
    _schedule_flush(ls, state, doc)


def _answered(ls: CodeForgeSession, state: CollabState, doc: DocSync, pending: PendingEdit, future: Any) -> None:
    """The editor's answer to our applyEdit (runs as the response is read, in order with
    the editor's notifications)."""
    if doc.pending is not pending or doc.closed:
        return  # already settled by its echo
    reason = ""
    try:
        result = future.result()
        applied = bool(getattr(result, "applied", False))
        reason = str(getattr(result, "failure_reason", None) or "")
    except Exception as exc:  # an error response: not applied
        applied, reason = False, str(exc)
    if not applied:
        doc.pending = None
        _release_held(ls, state, doc, pending)
        if pending.held or doc.dirty:
            doc.bare_refusals = 0
            _schedule_flush(ls, state, doc)
        else:
            # Refused with nothing typed meanwhile. Either the user's typing is still on its
            # way (an editor that answers before it reports its changes: their didChange
            # flushes again, `in_sync` being false), or it is the editor's choice (a
            # read-only buffer, a client that answers null): asking again at once would
            # loop, so the next change on either side tries again; told the second time.
            doc.bare_refusals += 1
            log.info("the editor refused an edit of %s for no version change: %s", doc.name, reason or "no reason")
            if doc.bare_refusals >= 2 and f"refused:{doc.uri}" not in state.warned:
                state.warned.add(f"refused:{doc.uri}")
                ls.window_show_message(
                    types.ShowMessageParams(
                        type=types.MessageType.Warning,
                        message=f"CodeForge: the editor did not take the session's changes to {doc.name}"
                        + (f" ({reason})" if reason else "")
                        + "; they are sent again with the next change",
                    )
                )
        return
    pending.answered = True
    doc.bare_refusals = 0
    # Applied, and its echo still to come (an editor that reports changes debounced, after
    # its answer). One that never reports it in a shape recognised here: after a while the
    # user's changes are worked out from the texts, and the difference is sent again.
    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop().call_later(ECHO_WAIT, _echo_overdue, ls, state, doc, pending)


def _echo_overdue(ls: CodeForgeSession, state: CollabState, doc: DocSync, pending: PendingEdit) -> None:
    if doc.pending is not pending or doc.closed:
        return
    if pending.held:
        log.info("the editor applied an edit of %s but its echo was not recognised; settling by the texts", doc.name)
        _settle_applied(ls, state, doc, pending)
        return
    log.info("the editor said it applied an edit of %s but never reported it; sending the difference again", doc.name)
    doc.pending = None
    doc.in_sync = False
    _schedule_flush(ls, state, doc)


# -- out to the editor --------------------------------------------------------------------------


def _on_room_change(ls: CodeForgeSession, state: CollabState, doc: DocSync, origin: Any) -> None:
    if origin is state.origin or doc.closed:
        return
    doc.dirty = True
    doc.in_sync = False
    _schedule_flush(ls, state, doc)


def _schedule_flush(ls: CodeForgeSession, state: CollabState, doc: DocSync) -> None:
    if doc.flush_due or doc.closed:
        return
    doc.flush_due = True
    try:
        asyncio.get_running_loop().call_soon(flush, ls, state, doc)
    except RuntimeError:
        doc.flush_due = False


def flush(ls: CodeForgeSession, state: CollabState, doc: DocSync) -> None:
    """Send the editor what the room has and it lacks, unless an edit is in flight (its
    settling flushes again)."""
    doc.flush_due = False
    room = doc.room
    if doc.closed or room is None or doc.pending is not None:
        return
    try:
        target = room_text(room)
    except Exception:  # the room went away under us
        log.info("room %s is gone; %s leaves it", doc.name, doc.uri)
        return
    doc.dirty = False
    if target == doc.text:
        doc.in_sync = True
        doc.refused_told = False
        return
    doc.in_sync = False
    encoding = encoding_of(ls)
    sent = lsp_edits(doc.text, diff(doc.text, target), encoding)
    edits = [
        types.TextEdit(range=types.Range(types.Position(a, b), types.Position(c, d)), new_text=new)
        for a, b, c, d, new in sent
    ]
    pending = doc.pending = PendingEdit(version=doc.version, base=doc.text, expected=target, sent=tuple(sorted(sent)))
    params = types.ApplyWorkspaceEditParams(
        edit=types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
                    edits=edits,
                )
            ]
        ),
        label="CodeForge collaboration",
    )
    future = ls.workspace_apply_edit(params)
    future.add_done_callback(lambda f: _answered(ls, state, doc, pending, f))


# -- joining and leaving ------------------------------------------------------------------------


def _applies_edits(ls: CodeForgeSession) -> bool:
    workspace = getattr(getattr(ls, "client_capabilities", None), "workspace", None)
    return bool(getattr(workspace, "apply_edit", False))


def join_document(ls: CodeForgeSession, state: CollabState, uri: str, text: str, version: int) -> Any:
    """Bring an open document into its room (see the module's docstring for whose text
    wins). The document is tracked from now on, so the editor's changes made while its room
    opens are in its text when it joins; returns the joining's awaitable (None: nothing to do)."""
    host = ls.state(CollabHost)
    if state.session is None or host.hub is None or uri in state.documents:
        return None
    name = room_name(host, uri)
    if name is None:
        return None
    if not _applies_edits(ls):
        if "no-apply-edit" not in state.warned:
            state.warned.add("no-apply-edit")
            ls.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Error,
                    message="CodeForge: this editor does not take edits from the server (workspace/applyEdit), "
                    "so it cannot co-edit: its documents stay out of the session's rooms",
                )
            )
        return None
    doc = DocSync(uri=uri, name=name, text=text, version=version, opened=text)
    state.documents[uri] = doc
    return _connect(ls, state, host, doc)


async def _connect(ls: CodeForgeSession, state: CollabState, host: CollabHost, doc: DocSync) -> None:
    try:
        await _join_room(ls, state, host, doc)
    finally:
        doc.ready.set()


async def _join_room(ls: CodeForgeSession, state: CollabState, host: CollabHost, doc: DocSync) -> None:
    assert host.hub is not None
    name, uri = doc.name, doc.uri
    generation = state.generation
    try:
        room = await host.hub.open(name)
    except Exception as exc:
        log.warning("could not open room %s: %s", name, exc)
        if state.documents.get(uri) is doc:
            state.documents.pop(uri, None)
        return
    if doc.closed or state.generation != generation or state.documents.get(uri) is not doc:
        return
    others = bool(room.peers) or room.holds > 0
    doc.room = room
    doc.release.append(room.hold())
    doc.client_id = room.presence.new_client()
    participant = state.participant
    room.presence.set(
        doc.client_id,
        presence_state(
            name=participant.name if participant else host.username,
            color=participant.color if participant else "",
            user_id=host.username,
            role=participant.role if participant else "guest",
            file=name,
        ),
    )
    client_id = doc.client_id
    doc.release.append(lambda: _forget_presence(room, client_id))
    doc.release.append(room.observe(lambda _room, _event, origin: _on_room_change(ls, state, doc, origin)))
    current = room_text(room)
    if others or doc.text == current or not _may_edit(ls, state):
        doc.in_sync = doc.text == current
        if others and doc.text != doc.opened:
            # Typed while the room opened: those edits are the user's and go in; the rest
            # of the editor's text (a stale copy) gives way to the room's.
            _ship(ls, state, doc, doc.opened, diff(doc.opened, doc.text))
        _schedule_flush(ls, state, doc)
    else:
        with room.local(state.origin) as content:
            apply_to_ytext(content, diff(current, doc.text))
        doc.in_sync = True
    HOOKS.run(HOOKS.document_joined, ls, state, doc)


def _forget_presence(room: Any, client_id: int) -> None:
    with contextlib.suppress(Exception):
        room.presence.set(client_id, None)


def leave_document(ls: CodeForgeSession, state: CollabState, uri: str) -> None:
    doc = state.documents.pop(uri, None)
    if doc is None:
        return
    if doc.room is not None:
        HOOKS.run(HOOKS.document_left, ls, state, doc)
    doc.closed = True
    doc.pending = None
    doc.ready.set()
    for release in reversed(doc.release):
        try:
            release()
        except Exception:
            log.exception("leaving room %s", doc.name)
    doc.release.clear()


async def join_all(ls: CodeForgeSession, state: CollabState) -> None:
    """Every document the editor has open joins its room."""
    try:
        documents = dict(ls.workspace.text_documents)
    except RuntimeError:
        return
    joining = [join_document(ls, state, uri, doc.source, doc.version or 0) for uri, doc in documents.items()]
    await asyncio.gather(*(j for j in joining if j is not None))


def leave_all(ls: CodeForgeSession, state: CollabState) -> None:
    for uri in list(state.documents):
        leave_document(ls, state, uri)


# -- the subscriber -----------------------------------------------------------------------------


def _did_open(ls: CodeForgeSession, event: DocumentEvent) -> Any:
    state = collab_state(ls)
    if state.session is None:
        return None  # sessions.py rejoins a remembered session on open, then joins every document
    document = event.params.text_document
    return join_document(ls, state, document.uri, document.text, document.version)


def _did_close(ls: CodeForgeSession, event: DocumentEvent) -> None:
    leave_document(ls, collab_state(ls), event.uri)


async def _did_save(ls: CodeForgeSession, event: DocumentEvent) -> None:
    state = collab_state(ls)
    doc = state.documents.get(event.uri)
    hub = ls.state(CollabHost).hub
    if doc is None or hub is None:
        return
    await doc.ready.wait()  # a save right after opening: once the room is joined
    if doc.room is None or doc.closed or not _may_edit(ls, state):
        return  # a guest's save writes nothing in the workspace (its editor saves its own copy)
    mirror = hub.mirrors.get(doc.name)
    save = getattr(mirror, "save", None)
    if save is None:
        return
    try:
        out = save()
        if inspect.isawaitable(out):
            out = await out
    except Exception as exc:  # disk.SaveError, FileGone (deleted on disk), a room that closed
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Error, message=f"CodeForge: {doc.name} was not saved in the workspace: {exc}"
            )
        )
        return
    if out is not None:  # a conflict with a change on disk: nothing was written
        from codeforge.lsp.capabilities.collab.conflicts import check  # conflicts imports this module

        check(ls, state)


def _handle(ls: CodeForgeSession, event: DocumentEvent) -> Any:
    if event.kind == "change":
        return did_change(ls, event)
    if event.kind == "open":
        return _did_open(ls, event)
    if event.kind == "close":
        return _did_close(ls, event)
    return _did_save(ls, event)


def contribute(c: Contributions) -> None:
    c.add(
        DocumentSubscriber(
            "collab-documents",
            _handle,
            wants=lambda ls, uri: ls.state(CollabHost).hub is not None,
        )
    )
