"""Review comments in the editor: threads anchored to text, kept on their lines as it changes.

Commands (docs/collab.md, "Language-server protocol"):

- `codeforge.collab.comment {uri, line, body, review?}` (line 0-based) makes a thread through
  the platform (`collab.comment`): the path relative to the workspace, an anchor on the
  line's first character (`codeforge.collab.comments.anchor` in the document's room), the
  line's text as the quote, the session and the review when given;
- `codeforge.collab.reply {thread, body}`, `.resolve {thread, body?}`, `.reopen {thread, body?}`
  (a body is a reply made first). They answer the platform's thread with `line` where this
  editor shows it: the platform's line lags (see below), and editors draw an answer at once.

Each document in a room gets `codeforge/collab/comments {uri, threads: [{id, line, state,
review, quote, anchored, detached, note?, comments: [{author, body, createdAt}]}]}` when it
joins and whenever its threads or their lines change. A line is where the thread's anchor
is now (resolved after every change of the room or the editor's text, coalesced); when the
anchor's character was deleted the thread stays at its last known line with `detached:
true` and a note saying so; a thread made without an anchor (from the CLI) stays at the
line the platform has (`anchored: false`). The platform learns new lines through
`collab.move`, debounced, sent by one of the bridge's sessions that have the document open.
A change of a thread made in one editor is reloaded by every editor on this bridge that
has that file open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field
from pygls.uris import to_fs_path

from codeforge.catalog import collab as ops
from codeforge.catalog.errors import BadInput, CodeForgeError
from codeforge.collab.comments import anchor
from codeforge.collab.relative import PositionError, RelativePosition, resolve
from codeforge.collab.text import Edit, Lines, diff
from codeforge.lsp.capabilities.collab.documents import map_edit, room_name, room_text
from codeforge.lsp.capabilities.collab.state import HOOKS, CollabHost, CollabState, DocSync, active_host, collab_state
from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.contributions import Contributions
from codeforge.lsp.session import CodeForgeSession

__all__ = ["COMMANDS", "COMMENTS", "DETACHED_NOTE", "contribute", "project_of", "thread_view"]

log = logging.getLogger(__name__)

COMMENTS = "codeforge/collab/comments"
DETACHED_NOTE = "the text this thread was on was deleted; it is shown at its last known line"
SETTLE = 0.1  # seconds of quiet before lines are worked out again after a change
MOVE_AFTER = 1.0  # seconds of quiet before the platform is told the new lines
QUOTE_MAX = 2000
THREADS_MAX = 500
_ID = r"^[0-9a-f]{32}$"


@dataclass
class Tracked:
    """A thread on a document: the platform's object, its anchor, where it is now."""

    data: dict[str, Any]
    position: RelativePosition | None
    line: int  # where it is shown (its anchor's line, or the last one known)
    platform_line: int  # what the platform has
    detached: bool = False


@dataclass
class DocThreads:
    threads: dict[str, Tracked] = field(default_factory=dict)
    sent: Any = None
    settle: asyncio.TimerHandle | None = None
    move: asyncio.TimerHandle | None = None
    loaded: bool = False
    reload: Callable[[], None] | None = None  # this session's entry in `_watchers`


@dataclass
class CommentsView:
    docs: dict[str, DocThreads] = field(default_factory=dict)  # by uri


# Every session on this bridge with a file open, by (hub, room name): a thread changed by
# one is reloaded by the others. The first registered sends the platform the moves.
_watchers: dict[tuple[int, str], list[Callable[[], None]]] = {}


def _watch(hub: Any, name: str, reload: Callable[[], None]) -> Callable[[], None]:
    key = (id(hub), name)
    _watchers.setdefault(key, []).append(reload)

    def unwatch() -> None:
        found = _watchers.get(key, [])
        if reload in found:
            found.remove(reload)
        if not found:
            _watchers.pop(key, None)

    return unwatch


def _is_mover(hub: Any, name: str, reload: Callable[[], None]) -> bool:
    found = _watchers.get((id(hub), name), [])
    return bool(found) and found[0] is reload


def _changed(hub: Any, name: str) -> None:
    for reload in list(_watchers.get((id(hub), name), [])):
        try:
            reload()
        except Exception:
            log.exception("reloading the threads of %s", name)


# -- lines --------------------------------------------------------------------------------------


def _line_finder(doc: DocSync) -> Callable[[int], int]:
    """The line, in the editor's text, of a byte offset of the room's text (moved across
    what the editor has not got yet); worked out once for all of a document's threads."""
    assert doc.room is not None
    shared = room_text(doc.room)
    lines = Lines(doc.text)
    if shared == doc.text:
        return lambda offset: lines.position(offset, encoding="utf-8")[0]
    lag = diff(shared, doc.text)  # the editor lags: map offsets back onto its text
    return lambda offset: lines.position(map_edit(Edit(offset, offset, ""), lag).start, encoding="utf-8")[0]


def _place(doc: DocSync, tracked: Tracked, line_of: Callable[[int], int]) -> None:
    if tracked.position is None or doc.room is None:
        return
    offset = resolve(doc.room.text, tracked.position, deleted="none")
    if offset is None:
        tracked.detached = True  # stays at tracked.line, the last known
        return
    tracked.detached = False
    tracked.line = line_of(offset)


def thread_view(tracked: Tracked) -> dict[str, Any]:
    data = tracked.data
    out: dict[str, Any] = {
        "id": data["id"],
        "line": tracked.line,
        "state": data.get("state", "open"),
        "review": data.get("review"),
        "quote": data.get("quote", ""),
        "anchored": tracked.position is not None and not tracked.detached,
        "detached": tracked.detached,
        "comments": [
            {"author": c.get("author"), "body": c.get("body"), "createdAt": c.get("created_at")}
            for c in data.get("comments", [])
        ],
    }
    if tracked.detached:
        out["note"] = DETACHED_NOTE
    return out


def _track(data: dict[str, Any]) -> Tracked:
    position = None
    if data.get("anchor"):
        with contextlib.suppress(PositionError):
            position = RelativePosition.from_base64(data["anchor"])
    line = int(data.get("line", 0))
    return Tracked(data=data, position=position, line=line, platform_line=line)


def _publish(ls: CodeForgeSession, doc: DocSync, threads: DocThreads, *, force: bool = False) -> None:
    if doc.closed:
        return
    if threads.threads and doc.room is not None:
        line_of = _line_finder(doc)
        for tracked in threads.threads.values():
            _place(doc, tracked, line_of)
    ordered = sorted(threads.threads.values(), key=lambda t: (t.line, t.data.get("created_at") or ""))
    payload = {"uri": doc.uri, "threads": [thread_view(t) for t in ordered]}
    if force or payload != threads.sent:
        threads.sent = payload
        ls.protocol.notify(COMMENTS, payload)
    _schedule_moves(ls, doc, threads)


# -- the platform -------------------------------------------------------------------------------


def project_of(ls: CodeForgeSession) -> str:
    """The project threads and reviews go in: the session's, else the editor's context."""
    return _project(ls, collab_state(ls))


def _project(ls: CodeForgeSession, state: CollabState) -> str:
    project = (state.session.project if state.session is not None else "") or ls.context_project()
    if not project:
        raise BadInput(
            "no project to keep the comments in", fix="name one in codeforge.yaml (project: …) or join a session"
        )
    return project


async def _load(ls: CodeForgeSession, doc: DocSync) -> None:
    state = collab_state(ls)
    view = ls.state(CommentsView)
    threads = view.docs.get(doc.uri)
    if threads is None or doc.closed:
        return
    try:
        listed: Any = await ls.platform.call(
            ops.COMMENTS, {"project": _project(ls, state), "path": doc.name, "limit": THREADS_MAX}
        )
    except CodeForgeError as exc:
        log.info("threads of %s not loaded: %s", doc.name, exc.message)
        return
    if view.docs.get(doc.uri) is not threads or doc.closed:
        return
    fresh = {}
    for item in listed.items:
        data = item.model_dump(mode="json")
        old = threads.threads.get(data["id"])
        if old is not None:  # keep what this session knows of its place
            old.data = data
            old.platform_line = int(data.get("line", old.platform_line))
            fresh[data["id"]] = old
        else:
            fresh[data["id"]] = _track(data)
    threads.threads = fresh
    threads.loaded = True
    _publish(ls, doc, threads)


def _schedule_moves(ls: CodeForgeSession, doc: DocSync, threads: DocThreads) -> None:
    host = ls.state(CollabHost)
    if not any(t.line != t.platform_line and not t.detached for t in threads.threads.values()):
        return
    if threads.move is not None:
        threads.move.cancel()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    threads.move = loop.call_later(MOVE_AFTER, lambda: ls.spawn(_send_moves(ls, doc, threads, host)))


async def _send_moves(ls: CodeForgeSession, doc: DocSync, threads: DocThreads, host: CollabHost) -> None:
    threads.move = None
    if doc.closed or threads.reload is None or not _is_mover(host.hub, doc.name, threads.reload):
        return
    for tracked in list(threads.threads.values()):
        if tracked.detached or tracked.line == tracked.platform_line:
            continue
        line = tracked.line
        try:
            await ls.platform.call(ops.MOVE, {"thread": tracked.data["id"], "line": line})
        except CodeForgeError as exc:
            log.info("thread %s not moved to line %s: %s", tracked.data["id"], line, exc.message)
            continue
        tracked.platform_line = line


# -- a document's life ----------------------------------------------------------------------------


def _settle_later(ls: CodeForgeSession, doc: DocSync) -> None:
    threads = ls.state(CommentsView).docs.get(doc.uri)
    if threads is None or not threads.threads or threads.settle is not None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return

    def settle() -> None:
        threads.settle = None
        try:
            _publish(ls, doc, threads)
        except Exception:
            log.exception("thread lines of %s", doc.name)

    threads.settle = loop.call_later(SETTLE, settle)


def _joined(ls: CodeForgeSession, state: CollabState, doc: DocSync) -> None:
    host = ls.state(CollabHost)
    room = doc.room
    if room is None or host.hub is None:
        return
    threads = ls.state(CommentsView).docs[doc.uri] = DocThreads()

    def reload() -> None:
        ls.spawn(_load(ls, doc))

    threads.reload = reload
    doc.release.append(_watch(host.hub, doc.name, reload))
    doc.release.append(room.observe(lambda _room, _event, _origin: _settle_later(ls, doc)))
    ls.spawn(_load(ls, doc))


def _editor_changed(ls: CodeForgeSession, state: CollabState, doc: DocSync) -> None:
    _settle_later(ls, doc)


def _left(ls: CodeForgeSession, state: CollabState, doc: DocSync) -> None:
    threads = ls.state(CommentsView).docs.pop(doc.uri, None)
    if threads is None:
        return
    for handle in (threads.settle, threads.move):
        if handle is not None:
            handle.cancel()
    if threads.sent is not None:
        ls.protocol.notify(COMMENTS, {"uri": doc.uri, "threads": []})


HOOKS.document_joined.append(_joined)
HOOKS.document_left.append(_left)
HOOKS.document_changed.append(_editor_changed)


# -- commands -------------------------------------------------------------------------------------


class CommentArguments(CommandArguments):
    uri: str = Field(min_length=1, max_length=8192, description="The document's URI.")
    line: int = Field(ge=0, le=10_000_000, description="0-based line the comment is on.")
    body: str = Field(min_length=1, max_length=20_000, description="The comment (Markdown).")
    review: str | None = Field(default=None, pattern=_ID, description="The review the comment is on.")


class ReplyArguments(CommandArguments):
    thread: str = Field(pattern=_ID, description="The thread's id.")
    body: str = Field(min_length=1, max_length=20_000, description="The reply (Markdown).")


class ThreadArguments(CommandArguments):
    thread: str = Field(pattern=_ID, description="The thread's id.")
    body: str | None = Field(default=None, min_length=1, max_length=20_000, description="A reply to add first.")


async def _room_and_text(ls: CodeForgeSession, host: CollabHost, uri: str) -> tuple[Any, str, DocSync | None, str]:
    """The document's room, the text the editor sees, its DocSync (None when the document is
    not open in a session) and its room name."""
    state = collab_state(ls)
    doc = state.documents.get(uri)
    if doc is not None and doc.room is not None and not doc.closed:
        return doc.room, doc.text, doc, doc.name
    name = room_name(host, uri)
    if name is None:
        raise BadInput(
            f"{uri} is not a file of the workspace",
            fix="comment on a file under the workspace folder (not .git/ or .codeforge/)",
        )
    path = to_fs_path(uri)
    if not path or not Path(path).is_file():
        raise BadInput(f"{name} is not a file in the workspace", fix="save the file first, then comment on it")
    assert host.hub is not None
    room = await host.hub.open(name)
    text = ls.open_text(Path(path)) if path else None
    return room, text if text is not None else str(room.text), None, name


@lsp_command("codeforge.collab.comment", CommentArguments)
async def comment(ls: CodeForgeSession, args: CommentArguments) -> dict[str, Any]:
    host = active_host(ls)
    state = collab_state(ls)
    room, text, doc, name = await _room_and_text(ls, host, args.uri)
    lines = Lines(text)
    if args.line >= len(lines.starts):
        raise BadInput(
            f"line {args.line} is past the end of {name} ({len(lines.starts)} lines, counted from 0)",
            fix=f"pass a line from 0 to {len(lines.starts) - 1}",
        )
    offset = lines.offset(args.line, 0, "utf-8")
    shared = room_text(room)
    if shared != text:  # the editor lags behind the room: the same place in the room's text
        offset = map_edit(Edit(offset, offset, ""), diff(text, shared)).start
    quote = text[lines.starts[args.line] : lines.ends[args.line]][:QUOTE_MAX]
    data: dict[str, Any] = {
        "project": _project(ls, state),
        "path": name,
        "line": args.line,
        "body": args.body,
        "anchor": anchor(room.text, offset),
        "quote": quote,
    }
    if state.session is not None:
        data["session"] = state.session.id
    if args.review is not None:
        data["review"] = args.review
    made = (await ls.platform.call(ops.COMMENT, data)).model_dump(mode="json")
    if doc is not None:
        threads = ls.state(CommentsView).docs.get(doc.uri)
        if threads is not None:
            threads.threads[made["id"]] = _track(made)
            _publish(ls, doc, threads)
    _tell_others(ls, host, name)
    return made


def _tell_others(ls: CodeForgeSession, host: CollabHost, name: str) -> None:
    """Every session with the file open reloads its threads (this one too: cheap, and it
    picks up changes made elsewhere)."""
    if host.hub is not None:
        _changed(host.hub, name)


async def _thread_op(ls: CodeForgeSession, operation: Any, data: dict[str, Any]) -> dict[str, Any]:
    """A reply, resolve or reopen: the platform's thread, with `line` where this editor shows
    it. The platform's `line` is only what the last `collab.move` told it (sent 1 s after
    the last change, from one session per file, in that session's editor's lines), so an
    editor that drew the answer at the platform's line showed the thread off its text."""
    host = active_host(ls)
    made: dict[str, Any] = (await ls.platform.call(operation, data)).model_dump(mode="json")
    shown = _shown_line(ls, made)
    _tell_others(ls, host, made["path"])
    return made if shown is None else {**made, "line": shown}


def _shown_line(ls: CodeForgeSession, made: dict[str, Any]) -> int | None:
    """The line this editor shows the thread `made` at (its data updated and published at
    once), or None when none of its open documents has that thread."""
    view = ls.state(CommentsView)
    for doc in collab_state(ls).documents.values():
        threads = view.docs.get(doc.uri)
        if doc.closed or doc.name != made.get("path") or threads is None:
            continue
        tracked = threads.threads.get(made["id"])
        if tracked is None:
            continue
        tracked.data = made
        tracked.platform_line = int(made.get("line", tracked.platform_line))
        _publish(ls, doc, threads)
        return tracked.line
    return None


@lsp_command("codeforge.collab.reply", ReplyArguments)
async def reply(ls: CodeForgeSession, args: ReplyArguments) -> dict[str, Any]:
    active_host(ls)
    return await _thread_op(ls, ops.REPLY, {"thread": args.thread, "body": args.body})


async def _set_state(ls: CodeForgeSession, args: ThreadArguments, operation: Any) -> dict[str, Any]:
    active_host(ls)
    if args.body is not None:
        await ls.platform.call(ops.REPLY, {"thread": args.thread, "body": args.body})
    return await _thread_op(ls, operation, {"thread": args.thread})


@lsp_command("codeforge.collab.resolve", ThreadArguments)
async def resolve_thread(ls: CodeForgeSession, args: ThreadArguments) -> dict[str, Any]:
    return await _set_state(ls, args, ops.RESOLVE)


@lsp_command("codeforge.collab.reopen", ThreadArguments)
async def reopen(ls: CodeForgeSession, args: ThreadArguments) -> dict[str, Any]:
    return await _set_state(ls, args, ops.REOPEN)


COMMANDS = (comment, reply, resolve_thread, reopen)


def contribute(c: Contributions) -> None:
    c.add(*COMMANDS)
