"""Channel `lsp-proxy`: the workspace's own language servers (basedpyright, pylsp, …), run
next to the files and forwarded to one editor with its file URIs rewritten both ways.

One server process per editor link (`lsp-proxy?name=python`), not one shared per workspace:
LSP is a one-client protocol. A server keeps each client's open-document text and versions,
answers with positions in the encoding that client negotiated, asks *its* client for
configuration and edits (`workspace/configuration`, `workspace/applyEdit`), and is set up by
that client's `initialize` (root, capabilities, options), which differs per editor. Sharing
one would need a multiplexer rewriting all of that, and one editor's unsaved text would show
in another's diagnostics. The cost is memory per editor (basedpyright: ~100-200 MB), bounded
by the number of connected editors. The link outlives dropped websockets, so a reconnect
within the grace period keeps the process and its state.

Each link message is one JSON-RPC message (the relay in `codeforge connect` frames it with
Content-Length on the editor's side; here it is framed again for the server's stdio).

A server that exits without having been asked to (a crash, a kill, the OOM killer) is
restarted: the editor's requests in flight are answered with an error, the editor is told
(`window/showMessage` and a `codeforge/languageServer` notification), and the new process
gets the editor's `initialize` (its answer swallowed), `initialized`, the last
`workspace/didChangeConfiguration` and a `didOpen` with the current text of every open
document. A server that keeps crashing (5 times in 3 minutes) is left stopped and every
request is answered with an error saying so.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from codeforge.bridge.framing import frame
from codeforge.bridge.language_servers import (
    LanguageServerError,
    ServerCommand,
    read_message,
    resolve,
    start_server,
    stop_server,
    wait_exit,
)
from codeforge.bridge.link import Link, LinkClosed
from codeforge.bridge.lsp_documents import OpenDocuments
from codeforge.bridge.sessions import ChannelContext
from codeforge.bridge.uris import UriMap

__all__ = ["MAX_RESTARTS", "RESTART_WINDOW", "STATE_METHOD", "LanguageServerProxy", "serve"]

log = logging.getLogger(__name__)

STATE_METHOD = "codeforge/languageServer"
MAX_RESTARTS = 5  # crashes within RESTART_WINDOW seconds before the proxy gives up
RESTART_WINDOW = 180.0
_INTERNAL = "codeforge/"  # prefix of the ids of requests the proxy itself makes
_EOF = "its output ended"

# JSON-RPC / LSP error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
SERVER_NOT_INITIALIZED = -32002
REQUEST_FAILED = -32803


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def _error(id_: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": error}


def _notification(method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


async def serve(link: Link, ctx: ChannelContext) -> None:
    """Serve one editor: `name` (a link parameter) picks the language server."""
    await LanguageServerProxy(link, ctx.workspace, ctx.params.get("name", "")).run()


class LanguageServerProxy:
    """One editor ⇄ one language-server process (restarted when it crashes)."""

    def __init__(self, link: Link, workspace: Path, name: str) -> None:
        self.link = link
        self.workspace = workspace
        self.name = name
        self.command: ServerCommand | None = None
        self.uris = UriMap(None, workspace)
        self.init_params: dict[str, Any] = {}  # workspace form, processId replaced
        self.initialized: dict[str, Any] | None = None
        self.configuration: dict[str, Any] | None = None
        self.docs = OpenDocuments()
        self.process: asyncio.subprocess.Process | None = None
        self.generation = 0
        self.ready = asyncio.Event()  # set while a server is up and has been given the state
        self.write_lock = asyncio.Lock()
        # The editor's requests the server has not answered: id -> method.
        self.pending: dict[Any, str] = {}
        self.init_answered = False
        # The server's requests to the editor, by the id the editor sees: (generation, id).
        self.server_requests: dict[str, tuple[int, Any]] = {}
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}  # our own requests to the server
        self.progress: set[str] = set()  # work-done tokens begun and not ended
        self.registrations: dict[str, str] = {}  # capability registrations: id -> method
        self.crashes: collections.deque[float] = collections.deque()
        self.failed = ""  # why the proxy gave up on the server, once it has
        self.stopping = False  # shutdown/exit asked for, or the link is gone: exits are expected
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.tasks: set[asyncio.Task[None]] = set()
        self._internal_ids = 0

    # -- the editor's side ---------------------------------------------------------------

    async def run(self) -> None:
        try:
            if await self._initialize():
                await self._editor_loop()
            else:
                await self._refusing_loop()
        except LinkClosed:
            pass
        finally:
            self.stopping = True
            for task in list(self.tasks):
                task.cancel()
            if self.process is not None:
                await stop_server(self.process)
                log.info("language server %s for link %s stopped", self.name, self.link.link_id)

    async def _receive(self) -> dict[str, Any] | None:
        """The next message from the editor; None (after answering it) when it is not JSON-RPC."""
        raw = await self.link.receive()
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            await self._to_editor(_error(None, PARSE_ERROR, "the message is not JSON"), mapped=True)
            return None
        if not isinstance(message, dict) or not (isinstance(message.get("method"), str) or "id" in message):
            await self._to_editor(_error(None, INVALID_REQUEST, "not a JSON-RPC message object"), mapped=True)
            return None
        return message

    async def _initialize(self) -> bool:
        """Wait for the editor's `initialize` and start the server for it. False: refused
        (the editor was answered with the reason)."""
        while True:
            message = await self._receive()
            if message is None:
                continue
            method = message.get("method")
            if method == "initialize" and "id" in message:
                break
            if method == "exit":
                raise LinkClosed("exit before initialize")
            if "id" in message and isinstance(method, str):
                await self._to_editor(
                    _error(message["id"], SERVER_NOT_INITIALIZED, "send `initialize` first"), mapped=True
                )
        raw_params = message.get("params")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        try:
            if not self.name:
                raise LanguageServerError(
                    "no language server named: connect with `codeforge connect URL --lsp NAME` (for example `python`)"
                )
            self.command = resolve(self.name, self.workspace)
            self.uris = UriMap.from_initialize(params, self.workspace)
            mapped = self.uris.to_workspace(message)
            # The editor's process id means nothing here (or another process): servers exit
            # when "their client" dies, so give them the bridge's.
            mapped["params"] = {
                **(mapped["params"] if isinstance(mapped.get("params"), dict) else {}),
                "processId": os.getpid(),
            }
            self.init_params = mapped["params"]
            await self._start()
        except LanguageServerError as exc:
            self.failed = str(exc)
            log.info("language server refused for link %s: %s", self.link.link_id, exc)
            await self._to_editor(_error(message["id"], REQUEST_FAILED, str(exc), {"retry": False}), mapped=True)
            return False
        self.pending[message["id"]] = "initialize"
        await self._write(mapped)
        self.ready.set()
        return True

    async def _refusing_loop(self) -> None:
        """After a refused `initialize`: every request gets the reason, until `exit`."""
        while True:
            message = await self._receive()
            if message is None:
                continue
            if message.get("method") == "exit":
                return
            if "id" in message and isinstance(message.get("method"), str):
                await self._to_editor(_error(message["id"], REQUEST_FAILED, self.failed), mapped=True)

    async def _editor_loop(self) -> None:
        while True:
            message = await self._receive()
            if message is None:
                continue
            method = message.get("method")
            if not isinstance(method, str):
                await self._editor_response(message)
                continue
            try:
                mapped = self.uris.to_workspace(message)
            except RecursionError:
                if "id" in message:
                    await self._to_editor(
                        _error(message["id"], INVALID_REQUEST, "the message nests too deeply"), mapped=True
                    )
                continue
            if method == "exit":
                self.stopping = True
                await self._forward(method, mapped)
                if self.process is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wait_exit(self.process), 2.0)
                return
            if self.failed:
                if "id" in message:
                    await self._to_editor(_error(message["id"], REQUEST_FAILED, self.failed), mapped=True)
                continue
            await self._forward(method, mapped)

    def _follow(self, method: str, message: dict[str, Any]) -> None:
        """Keep what a restarted server must be told again."""
        if method == "initialized":
            self.initialized = message
        elif method == "workspace/didChangeConfiguration":
            self.configuration = message
        elif method == "shutdown":
            self.stopping = True
        elif method.startswith("textDocument/did"):
            self.docs.follow(method, message.get("params"))

    async def _forward(self, method: str, message: dict[str, Any]) -> None:
        """Write an editor message to the server, waiting while it restarts. A request is
        registered under the same lock a crash takes, so it is either answered by the
        crash handler or written to the new server, never lost between the two. Document
        changes are followed under that lock too: a change is either in the text a replay
        reopens or sent after it, never both (applied twice) nor neither."""
        while True:
            await self.ready.wait()
            async with self.write_lock:
                if not self.ready.is_set():
                    continue
                if self.failed:
                    if "id" in message:
                        await self._to_editor(_error(message["id"], REQUEST_FAILED, self.failed), mapped=True)
                    return
                try:
                    self._follow(method, message)
                except (TypeError, ValueError, AttributeError) as exc:
                    # A malformed notification is the server's to reject; the proxy only
                    # loses track of that document's text (a replay would reopen it stale).
                    log.warning("cannot follow %s from the editor (%s)", method, exc)
                if "id" in message:
                    self.pending[message["id"]] = method
                await self._write_locked(message)
                return

    async def _editor_response(self, message: dict[str, Any]) -> None:
        """The editor answers a server request: back to the process that asked, if alive."""
        id_ = message.get("id")
        if isinstance(id_, str) and id_.startswith(_INTERNAL):
            return  # the answer to one of the proxy's own requests (an unregistration)
        origin = self.server_requests.pop(id_, None) if isinstance(id_, str) else None
        if origin is None or origin[0] != self.generation or self.failed:
            return  # the process that asked is gone
        answer = self.uris.to_workspace({**message, "id": origin[1]})
        async with self.write_lock:
            await self._write_locked(answer)

    async def _to_editor(self, message: dict[str, Any], *, mapped: bool = False) -> None:
        await self.link.send(_dumps(message if mapped else self.uris.to_editor(message)))

    async def _tell(self, state: str, message: str, level: int) -> None:
        """Tell the editor what happened to its language server (level: LSP MessageType)."""
        crashes = len(self.crashes)
        await self._to_editor(
            _notification(STATE_METHOD, {"name": self.name, "state": state, "message": message, "restarts": crashes}),
            mapped=True,
        )
        await self._to_editor(_notification("window/showMessage", {"type": level, "message": message}), mapped=True)

    # -- the server's side ---------------------------------------------------------------

    async def _start(self) -> None:
        assert self.command is not None
        self.generation += 1
        self.process = await start_server(self.command, self.workspace)
        log.info(
            "language server %s (generation %d, pid %d) started for link %s",
            self.name,
            self.generation,
            self.process.pid,
            self.link.link_id,
        )
        self._spawn(self._server_loop(self.process, self.generation))
        self._spawn(self._stderr_loop(self.process))
        self._spawn(self._reap(self.process))

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _write(self, message: dict[str, Any]) -> None:
        async with self.write_lock:
            await self._write_locked(message)

    async def _write_locked(self, message: dict[str, Any]) -> None:
        process = self.process
        if process is None or process.stdin is None:
            return
        try:
            process.stdin.write(frame(_dumps(message).encode("utf-8")))
            await process.stdin.drain()
        except (ConnectionError, RuntimeError):
            pass  # the server is gone: its exit is handled by _server_loop, which replays

    async def _reap(self, process: asyncio.subprocess.Process) -> None:
        """When the server's main process exits, end its whole group: a child it leaves
        behind (basedpyright's wrapper runs Node) would hold stdout open and hide the exit."""
        await wait_exit(process)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    async def _stderr_loop(self, process: asyncio.subprocess.Process) -> None:
        """Drain the server's stderr into the log (a full pipe would block the server). Read
        in chunks, not lines: one endless line must not stop the draining."""
        assert process.stderr is not None
        pending = b""
        while chunk := await process.stderr.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > 65536:
                lines, pending = [*lines, pending], b""
            for line in lines:
                text = line.decode("utf-8", "replace").rstrip()[:2000]
                self.stderr_tail.append(text)
                log.debug("[%s %d] %s", self.name, process.pid, text)

    async def _server_loop(self, process: asyncio.subprocess.Process, generation: int) -> None:
        assert process.stdout is not None
        reason = _EOF
        try:
            while True:
                body = await read_message(process.stdout)
                if body is None:
                    break
                try:
                    message = json.loads(body)
                except ValueError:
                    log.warning("language server %s sent a message that is not JSON; dropped", self.name)
                    continue
                if isinstance(message, dict):
                    try:
                        await self._server_message(message, generation)
                    except (TypeError, ValueError, AttributeError, RecursionError) as exc:
                        log.warning("language server %s sent a malformed message, dropped (%s)", self.name, exc)
        except ValueError as exc:
            reason = str(exc)
        except LinkClosed:
            return
        with contextlib.suppress(LinkClosed):  # the editor left meanwhile: run() stops it all
            await self._server_gone(process, generation, reason)

    async def _server_message(self, message: dict[str, Any], generation: int) -> None:
        method = message.get("method")
        id_ = message.get("id")
        if not isinstance(method, str):  # a response
            if isinstance(id_, str) and id_ in self.waiting:
                self.waiting.pop(id_).set_result(message)
                return
            asked = self.pending.pop(id_, None)
            if asked == "initialize":
                self._initialize_result(message)
            await self._to_editor(message)
            return
        if "id" in message:  # a request to the editor: an id this generation cannot reuse
            editor_id = f"{generation}:{json.dumps(id_)}"
            self.server_requests[editor_id] = (generation, id_)
            message = {**message, "id": editor_id}
            if method == "client/registerCapability":
                for registration in (message.get("params") or {}).get("registrations") or []:
                    if isinstance(registration, dict) and isinstance(registration.get("id"), str):
                        self.registrations[registration["id"]] = str(registration.get("method", ""))
            elif method == "client/unregisterCapability":
                for unregistration in (message.get("params") or {}).get("unregisterations") or []:
                    if isinstance(unregistration, dict):
                        self.registrations.pop(str(unregistration.get("id")), None)
        elif method == "$/progress":
            params = message.get("params") or {}
            kind = (params.get("value") or {}).get("kind") if isinstance(params.get("value"), dict) else None
            token = json.dumps(params.get("token"))
            if kind == "begin":
                self.progress.add(token)
            elif kind == "end":
                self.progress.discard(token)
        elif method == "$/cancelRequest":
            params = message.get("params") or {}
            message = {**message, "params": {**params, "id": f"{generation}:{json.dumps(params.get('id'))}"}}
        await self._to_editor(message)

    def _initialize_result(self, message: dict[str, Any]) -> None:
        result = message.get("result")
        if not isinstance(result, dict):
            return
        self.init_answered = True
        encoding = (result.get("capabilities") or {}).get("positionEncoding")
        self.docs.encoding = encoding if encoding in ("utf-8", "utf-16", "utf-32") else "utf-16"

    async def _server_gone(self, process: asyncio.subprocess.Process, generation: int, reason: str) -> None:
        """The process stopped: expected (shutdown, link gone) or a crash to recover from."""
        with contextlib.suppress(ProcessLookupError):
            if process.returncode is None and reason != _EOF:
                process.kill()
        try:
            code = await asyncio.wait_for(wait_exit(process), 5.0)
        except TimeoutError:
            await stop_server(process, grace=0)
            code = process.returncode if process.returncode is not None else -9
        if self.stopping or generation != self.generation:
            return
        log.warning(
            "language server %s (pid %d) exited with %s (%s); last output: %s",
            self.name,
            process.pid,
            code,
            reason,
            " | ".join(self.stderr_tail) or "none",
        )
        async with self.write_lock:
            self.ready.clear()
            failed_requests, self.pending = self.pending, {}
            self.server_requests.clear()
            for future in self.waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("the language server stopped"))
            self.waiting.clear()
        what = (
            f"The language server `{self.name}` stopped unexpectedly (exit code {code})"
            if reason == _EOF
            else f"The language server `{self.name}` was stopped: {reason}"
        )
        now = time.monotonic()
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > RESTART_WINDOW:
            self.crashes.popleft()
        if not self.init_answered or len(self.crashes) > MAX_RESTARTS:
            why = (
                "it did not finish starting"
                if not self.init_answered
                else f"{len(self.crashes)} crashes in {int(RESTART_WINDOW)} s"
            )
            self.failed = (
                f"{what} and is not restarted again ({why}). The bridge's log has its output; "
                "fix the server or its settings and reconnect."
            )
        for id_, method in failed_requests.items():
            reason = self.failed or f"{what} while answering `{method}`; it is being restarted: retry"
            await self._to_editor(_error(id_, REQUEST_FAILED, reason), mapped=True)
        await self._forget_old_server()
        if self.failed:
            self.ready.set()  # the editor loop now answers every request with the reason
            await self._tell("failed", self.failed, 1)
            return
        await self._tell("restarting", f"{what}; restarting it and reopening your documents.", 2)
        await asyncio.sleep(min(0.25 * 2 ** (len(self.crashes) - 1), 5.0))
        try:
            await self._start()
            if await self._replay(self.generation):
                self.ready.set()
                await self._tell("running", f"The language server `{self.name}` was restarted.", 3)
        except LanguageServerError as exc:
            self.failed = str(exc)
            self.ready.set()
            await self._tell("failed", self.failed, 1)

    async def _forget_old_server(self) -> None:
        """End what the dead process left open in the editor: progress and registrations."""
        for token in self.progress:
            await self._to_editor(
                _notification("$/progress", {"token": json.loads(token), "value": {"kind": "end"}}), mapped=True
            )
        self.progress.clear()
        if self.registrations:
            self._internal_ids += 1
            unregister = [{"id": id_, "method": method} for id_, method in self.registrations.items()]
            self.registrations.clear()
            await self._to_editor(
                {
                    "jsonrpc": "2.0",
                    "id": f"{_INTERNAL}unregister/{self._internal_ids}",
                    "method": "client/unregisterCapability",
                    "params": {"unregisterations": unregister},
                },
                mapped=True,
            )

    async def _replay(self, generation: int) -> bool:
        """Give a fresh server what the editor already said. False if it died meanwhile."""
        request_id = f"{_INTERNAL}reinitialize/{generation}"
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = answer
        await self._write({"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": self.init_params})
        try:
            result = await asyncio.wait_for(answer, 120.0)
        except ConnectionError:
            return False  # it died too: its own _server_gone restarts or gives up
        except TimeoutError:
            log.warning("language server %s did not answer initialize in 120 s; killed", self.name)
            if self.process is not None and generation == self.generation:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)
            return False
        if "error" in result:
            log.warning("language server %s refused the replayed initialize: %s", self.name, result["error"])
        self._initialize_result(result)
        replay = [m for m in (self.initialized, self.configuration) if m is not None]
        async with self.write_lock:
            if generation != self.generation:
                return False
            for message in [*replay, *self.docs.reopen_messages()]:
                await self._write_locked(message)
        return generation == self.generation
