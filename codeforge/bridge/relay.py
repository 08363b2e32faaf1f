"""The LSP relay of `codeforge connect`: the editor's stdio (Content-Length framed JSON-RPC)
⇄ one `lsp` or `lsp-proxy` link (one JSON-RPC message per link message).

Within the grace period a dropped connection is the link's business: the relay only tells
the editor (`codeforge/connection` notifications). When the session is lost (the bridge
restarted), the relay opens a new one and replays what the editor already said, so the
editor notices nothing but a status change: `initialize` (its answer swallowed),
`initialized`, the last `workspace/didChangeConfiguration`, and `didOpen` with the current
text of every open document (the relay applies every didChange, full and incremental, to
its copy). Requests the old session never answered get a ContentModified error (the editor
retries; re-sending could run a command twice), and answers to the old server's requests
are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from codeforge.bridge.framing import FramingError, frame, read_message, stdin_reader
from codeforge.bridge.link import MAX_MESSAGE, DialRefused, Link, LinkClosed

__all__ = ["Documents", "LspRelay", "apply_change"]


class Connection(Protocol):
    """What the relay needs of `connect.Connection`: dial links, hear about reconnects."""

    on_state: list[Callable[[str], None]]  # "reconnecting" | "connected"
    on_session_lost: list[Callable[[str], None]]  # the new session id

    async def dial(self, channel: str, params: dict[str, str] | None = None) -> Link: ...


log = logging.getLogger(__name__)

CONTENT_MODIFIED = -32801
REPLAY_ID = "codeforge-replay-"
# What is read from the editor before it is judged: one over MAX_MESSAGE is refused with a
# message, not by ending the relay.
EDITOR_LIMIT = 1 << 30
DOCUMENT_SYNC = ("textDocument/didOpen", "textDocument/didChange", "textDocument/didClose")


# -- framing ------------------------------------------------------------------------------


# -- documents ----------------------------------------------------------------------------


def _offset(text: str, line: int, character: int, encoding: str) -> int:
    """The string index of an LSP position (character counted in `encoding` units)."""
    start = 0
    for _ in range(line):
        newline = text.find("\n", start)
        if newline < 0:
            return len(text)
        start = newline + 1
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    if encoding == "utf-32":
        return min(start + character, end)
    units = 0
    index = start
    while index < end and units < character:
        char = text[index]
        units += len(char.encode("utf-16-le")) // 2 if encoding == "utf-16" else len(char.encode())
        index += 1
    return index


def apply_change(text: str, change: dict[str, Any], encoding: str = "utf-16") -> str:
    """A didChange content change applied to `text` (a full one replaces it)."""
    if "range" not in change or change["range"] is None:
        return str(change["text"])
    start, end = change["range"]["start"], change["range"]["end"]
    a = _offset(text, start["line"], start["character"], encoding)
    b = _offset(text, end["line"], end["character"], encoding)
    return text[:a] + str(change["text"]) + text[b:]


@dataclass
class _Document:
    language_id: str
    version: int
    text: str


class Documents:
    """The editor's open documents as the server has been told them."""

    def __init__(self) -> None:
        self.open: dict[str, _Document] = {}
        self.encoding = "utf-16"

    def track(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params") or {}
        doc = params.get("textDocument") or {}
        uri = doc.get("uri")
        if method == "textDocument/didOpen" and uri:
            self.open[uri] = _Document(doc.get("languageId", ""), int(doc.get("version", 0)), str(doc.get("text", "")))
        elif method == "textDocument/didChange" and uri in self.open:
            tracked = self.open[uri]
            for change in params.get("contentChanges") or []:
                tracked.text = apply_change(tracked.text, change, self.encoding)
            tracked.version = int(doc.get("version", tracked.version + 1))
        elif method == "textDocument/didClose" and uri:
            self.open.pop(uri, None)

    def did_open_all(self) -> list[dict[str, Any]]:
        return [
            {
                "jsonrpc": "2.0",
                "method": "textDocument/didOpen",
                "params": {
                    "textDocument": {"uri": uri, "languageId": d.language_id, "version": d.version, "text": d.text}
                },
            }
            for uri, d in self.open.items()
        ]


# -- the relay ----------------------------------------------------------------------------


class LspRelay:
    def __init__(
        self,
        connection: Connection,
        channel: str,
        params: dict[str, str],
        *,
        sync_folder: Path | None = None,
        stdin: BinaryIO | None = None,
        stdout: BinaryIO | None = None,
    ) -> None:
        self.connection = connection
        self.channel = channel
        self.params = params
        self.sync_folder = sync_folder
        self._stdin = stdin or sys.stdin.buffer
        self._stdout = stdout or sys.stdout.buffer
        self.documents = Documents()
        self._initialize: dict[str, Any] | None = None
        self._initialize_id: Any = None
        self._initialized: dict[str, Any] | None = None
        self._configuration: dict[str, Any] | None = None
        self._pending: dict[Any, str] = {}  # editor request id -> method, not answered yet
        self._server_requests: set[Any] = set()  # the current server's requests to the editor
        self._link: Link | None = None
        self._ready = asyncio.Event()
        self._queued: list[bytes] = []  # what the editor said while no link was up
        self._queued_ids: set[Any] = set()  # requests among them (not lost: still to be sent)
        self._replays = 0
        self._exit = False
        self._sync_task: asyncio.Task[None] | None = None
        self._session_lost = asyncio.Event()
        self._state = "connected"
        # The collaboration session the editor is in (the last codeforge/collab/state the
        # server sent): a replay to a restarted bridge names it so the new session rejoins.
        self._collab_session: str | None = None

    # -- to the editor ----------------------------------------------------------------------

    def _write(self, body: bytes) -> None:
        self._stdout.write(frame(body))
        self._stdout.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._write(json.dumps({"jsonrpc": "2.0", "method": method, "params": params}).encode())

    def _connection_state(self, state: str) -> None:
        """`codeforge/connection` for the editor's status bar, once per change."""
        if state != self._state:
            self._state = state
            self.notify("codeforge/connection", {"state": state})

    def _show(self, kind: int, message: str) -> None:
        self.notify("window/showMessage", {"type": kind, "message": message})

    # -- running ----------------------------------------------------------------------------

    async def run(self) -> int:
        self.connection.on_state.append(self._connection_state)
        self.connection.on_session_lost.append(lambda _new: self._session_lost.set())
        link = await self.connection.dial(self.channel, self.params)
        self._use(link)
        reader = await stdin_reader(self._stdin)
        if self.sync_folder is not None:
            self._sync_task = asyncio.create_task(self._run_sync(self.sync_folder))
        editor = asyncio.create_task(self._from_editor(reader))
        server = asyncio.create_task(self._from_server())
        try:
            done, _ = await asyncio.wait({editor, server}, return_when=asyncio.FIRST_COMPLETED)
            if editor in done:
                # The editor hung up (or said exit): let what it said last reach the server.
                await self._flush()
                return 0
            return server.result()
        finally:
            for task in (editor, server, self._sync_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    def _use(self, link: Link) -> None:
        self._link = link
        self._ready.set()

    async def _flush(self) -> None:
        link = self._link
        if link is None or link.closed:
            return
        with contextlib.suppress(TimeoutError, LinkClosed):
            async with asyncio.timeout(5):
                while link.pending and link.attached:
                    await asyncio.sleep(0.01)

    async def _from_editor(self, reader: asyncio.StreamReader) -> None:
        while not self._exit:
            try:
                body = await read_message(reader, limit=EDITOR_LIMIT)
            except FramingError as exc:
                self._show(1, f"CodeForge: the editor's stream is not LSP ({exc}); the connection stops")
                return
            if body is None:
                return
            try:
                message = json.loads(body)
            except ValueError:
                log.warning("the editor sent a message that is not JSON; dropped")
                continue
            if not isinstance(message, dict):
                continue
            if len(body) > MAX_MESSAGE:
                self._too_large(message, len(body))
                continue
            if not self._track(message):
                continue
            link = self._link
            if link is None or link.closed:
                self._queue(message, body)
                continue
            try:
                await link.send(body.decode())
            except LinkClosed:
                self._queue(message, body)

    def _too_large(self, message: dict[str, Any], size: int) -> None:
        """A message the link cannot carry (a huge file opened): say so, answer a request."""
        what = message.get("method") or "a response"
        text = f"CodeForge: {what} is {size // 2**20} MiB, over the remote link's {MAX_MESSAGE // 2**20} MiB; not sent"
        self._show(1, text)
        if "id" in message and "method" in message:
            self._write(
                json.dumps({"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32600, "message": text}}).encode()
            )

    def _queue(self, message: dict[str, Any], body: bytes) -> None:
        """Keep what the editor said between sessions for the next one; document changes
        are left to the replay, which sends each open document's text as it is by then."""
        if message.get("method") in DOCUMENT_SYNC:
            return
        self._queued.append(body)
        if "id" in message and "method" in message:
            self._queued_ids.add(message["id"])

    def _track(self, message: dict[str, Any]) -> bool:
        """Remember what a replay needs; False for a message not to forward."""
        method = message.get("method")
        if method is None:  # the editor answers a server request
            if message.get("id") not in self._server_requests:
                return False  # the old server's request: the new one never asked
            self._server_requests.discard(message.get("id"))
            return True
        if "id" in message:
            self._pending[message["id"]] = method
        if method == "initialize":
            self._initialize, self._initialize_id = message, message.get("id")
        elif method == "initialized":
            self._initialized = message
        elif method == "workspace/didChangeConfiguration":
            self._configuration = message
        elif method in DOCUMENT_SYNC:
            self.documents.track(message)
        elif method == "exit":
            self._exit = True
        return True

    async def _from_server(self) -> int:
        while True:
            link = self._link
            assert link is not None
            try:
                text = await link.receive()
            except LinkClosed as closed:
                if await self._recover(closed.reason):
                    continue
                self._show(1, f"CodeForge: the remote session ended: {closed.reason or 'closed by the bridge'}")
                log.error("the remote session ended: %s", closed.reason)
                return 1
            body = text.encode() if isinstance(text, str) else text
            try:
                message = json.loads(body)
            except ValueError:
                self._write(body)
                continue
            if isinstance(message, dict) and self._from_server_message(message):
                self._write(body)

    def _from_server_message(self, message: dict[str, Any]) -> bool:
        if message.get("method") == "codeforge/collab/state" and isinstance(message.get("params"), dict):
            session = message["params"].get("session")
            self._collab_session = session if isinstance(session, str) else None
        if "method" in message:
            if "id" in message:
                self._server_requests.add(message["id"])
            return True
        answered = message.get("id")
        if isinstance(answered, str) and answered.startswith(REPLAY_ID):
            return False  # the answer to a replayed initialize: the editor had its own
        method = self._pending.pop(answered, None)
        if method == "initialize":
            capabilities = (message.get("result") or {}).get("capabilities") or {}
            self.documents.encoding = capabilities.get("positionEncoding") or "utf-16"
        return True

    # -- a lost session ---------------------------------------------------------------------

    async def _recover(self, reason: str) -> bool:
        """The link ended: when the session was lost (410), start a new one and replay.
        False when the session was ended on purpose, or a new one cannot be had."""
        if not reason.startswith("410"):
            return False
        self._link = None
        self._ready.clear()
        self._connection_state("reconnecting")
        for message_id, method in list(self._pending.items()):
            if method != "initialize" and message_id not in self._queued_ids:
                self._answer_lost(message_id, method)
        self._server_requests.clear()
        delay = 0.1
        while True:
            try:
                link = await self.connection.dial(self.channel, self.params)
                break
            except DialRefused as refused:
                if refused.status != 410:
                    self._show(1, f"CodeForge: the bridge refused the new session: {refused.reason}")
                    return False
            except OSError as exc:
                log.info("bridge not back yet: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)
        await self._replay(link)
        self._use(link)
        queued, self._queued = self._queued, []
        self._queued_ids.clear()
        for body in queued:
            await link.send(body.decode())
        self._connection_state("connected")
        log.info("new remote session %s after the bridge restarted", link.session_id)
        return True

    def _answer_lost(self, message_id: Any, method: str) -> None:
        self._pending.pop(message_id, None)
        error = {
            "code": CONTENT_MODIFIED,
            "message": f"{method}: the remote bridge restarted before it answered; try again",
        }
        self._write(json.dumps({"jsonrpc": "2.0", "id": message_id, "error": error}).encode())

    async def _replay(self, link: Link) -> None:
        if self._initialize is None:
            return
        self._replays += 1
        replay = dict(self._initialize, id=f"{REPLAY_ID}{self._replays}")
        if self._collab_session is not None:
            params = dict(replay.get("params") or {})
            options = params.get("initializationOptions")
            params["initializationOptions"] = {
                **(options if isinstance(options, dict) else {}),
                "collabSession": self._collab_session,
            }
            replay["params"] = params
        messages: list[dict[str, Any]] = [replay]
        messages += [m for m in (self._initialized, self._configuration) if m is not None]
        messages += self.documents.did_open_all()
        for message in messages:
            await link.send(json.dumps(message))

    # -- sync beside the language server -----------------------------------------------------

    async def _run_sync(self, folder: Path) -> None:
        from codeforge.bridge.sync.client import run_sync  # here: an editor without --sync never loads it

        while True:
            self._session_lost.clear()
            try:
                await run_sync(self.connection.dial, folder, watch=True, on_event=self._sync_event)
            except LinkClosed:
                pass
            except (DialRefused, OSError) as exc:
                self._show(1, f"CodeForge sync: {exc}")
            if not self._session_lost.is_set():
                await self._session_lost.wait()  # a new session: sync scans again

    def _sync_event(self, event: Any) -> None:
        kind, message, data = getattr(event, "kind", ""), getattr(event, "message", ""), getattr(event, "data", {})
        self.notify("codeforge/syncStatus", {"kind": kind, "message": message, **(data or {})})
        if kind in ("conflict", "warning", "error"):  # a person must hear these; progress is status only
            self._show(1 if kind == "error" else 2, f"CodeForge sync: {message}")
