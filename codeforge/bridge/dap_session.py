"""One debug session: debugpy's adapter shared by every DAP client attached to it.

The proxy owns the sequence numbers on both sides: it numbers what it sends the adapter
itself and remembers which client asked, and each client sees its own `seq` counter.
Events go to every client. State a late joiner needs is kept: the adapter's capabilities
(its `initialize` answer), whether the debuggee was launched, the current stop, and the
breakpoints.

Breakpoints: each client owns its set per source file. The adapter holds their union
(duplicates, same line and condition/hit condition/log message, sent once), so a client's
`setBreakpoints` replaces only its own set for that source and never removes another
participant's; the answer carries the adapter's result for the client's own breakpoints,
and the other clients get `breakpoint` events (`new`/`removed`). A client that leaves takes
its breakpoints with it. Exception and function breakpoints are session-wide: the last
`setExceptionBreakpoints`/`setFunctionBreakpoints` wins.

Execution control (continue, next, step in/out/back, pause, goto, restart, setVariable...)
is serialised: one such request at a time reaches the adapter, the next waits for its answer,
so two participants pressing "step" step twice, in order, and never interleave half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import posixpath
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from codeforge.bridge.dap_adapter import Adapter, AdapterError
from codeforge.bridge.dap_paths import LAUNCH_PATH_KEYS, PATH_KEYS, PathMap, PathRefused
from codeforge.bridge.dap_protocol import (
    CONTROL,
    GUARDED,
    NEEDS,
    DapClient,
    Pending,
    breakpoint_key,
    error_response,
    event,
    listener_address,
)

__all__ = ["DebugSession"]

log = logging.getLogger(__name__)

CONTROL_WAIT = 10.0  # seconds a control request holds the others back while its answer is awaited


class DebugSession:
    """debugpy's adapter and the clients attached to it."""

    def __init__(
        self,
        workspace: Path,
        *,
        label: str = "",
        owner: str = "",
        on_end: Callable[[], Awaitable[None]] | None = None,
    ):
        self.id = uuid.uuid4().hex[:12]
        self.workspace = workspace
        self.label = label or "debug session"
        self.owner = owner  # the username that started it: a collaboration host shares theirs
        self.clients: list[DapClient] = []
        self.adapter: Adapter | None = None
        self.capabilities: dict[str, Any] | None = None
        self.started: str = ""  # "launch" | "attach" once the first one went to the adapter
        self.configured = False
        self.stopped: dict[str, Any] | None = None  # the last `stopped` body while stopped
        self.ended = False
        self.end_reason = ""
        self.on_end = on_end
        self._seq = itertools.count(1)
        self._pending: dict[int, Pending] = {}
        self._init: asyncio.Future[dict[str, Any]] | None = None
        self._control = asyncio.Lock()
        self._bp_lock = asyncio.Lock()
        self._bp_sources: dict[str, dict[str, Any]] = {}  # workspace path -> the Source object sent
        self._bp_results: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._done = asyncio.Event()
        self._disconnect_sent = False
        self._init_args: dict[str, Any] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    # -- clients ----------------------------------------------------------------------------

    def join(self, client_id: str, label: str, send: Callable[[str], None], local_root: str | None) -> DapClient:
        client = DapClient(client_id, label, send, PathMap(self.workspace, local_root))
        client.joined_late = self.capabilities is not None
        self.clients.append(client)
        return client

    async def leave(self, client: DapClient, *, terminate: bool | None = None) -> None:
        """The client is gone (disconnected, or its link ended): the others carry on; the last
        one's leaving ends the debuggee (launch) or detaches from it (attach)."""
        if client.left:
            return
        client.left = True
        with contextlib.suppress(ValueError):
            self.clients.remove(client)
        if self.ended:
            return
        if self.clients:
            for path in list(client.breakpoints):
                client.breakpoints.pop(path, None)
                with contextlib.suppress(Exception):
                    await self._sync_breakpoints(path, None)
            return
        if self.adapter is not None and self.started and not self._disconnect_sent:
            terminate = (self.started == "launch") if terminate is None else terminate
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ask("disconnect", {"terminateDebuggee": terminate}), 5)
        await self.end("its last client left")

    # -- from a client ------------------------------------------------------------------------

    async def handle(self, client: DapClient, raw: str | bytes) -> None:
        """One message from `client`; a bad one is answered with a DAP error, never raised."""
        try:
            message = json.loads(raw)
        except ValueError:
            client.deliver(
                error_response(0, "", "the message is not JSON: send one DAP message (a JSON object) per link message")
            )
            return
        if not isinstance(message, dict) or not isinstance(message.get("seq"), int):
            client.deliver(error_response(0, "", "not a DAP message: expected a JSON object with an integer `seq`"))
            return
        seq, kind = message["seq"], message.get("type")
        if kind == "response":
            self._client_response(client, message)
            return
        command = message.get("command")
        if kind != "request" or not isinstance(command, str) or not command:
            client.deliver(
                error_response(seq, str(command or ""), f"unsupported DAP message type {kind!r}: send requests")
            )
            return
        args = message.get("arguments")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            client.deliver(error_response(seq, command, f"{command}: `arguments` must be an object"))
            return
        if self.ended:
            client.deliver(error_response(seq, command, f"the debug session has ended ({self.end_reason})"))
            return
        try:
            await self._request(client, seq, command, args)
        except PathRefused as exc:
            client.deliver(error_response(seq, command, f"{command}: {exc}", error_id=2))
        except AdapterError as exc:
            client.deliver(error_response(seq, command, f"{command}: {exc}"))

    async def _request(self, client: DapClient, seq: int, command: str, args: dict[str, Any]) -> None:
        starts = command in ("launch", "attach") and not self.started  # a watcher cannot start it
        if client.guard is not None and (command in GUARDED or starts) and not client.guard.may_edit():
            if command == "setBreakpoints" and not args.get("breakpoints") and not args.get("lines"):
                # None asked for and none held (a watcher holds none): nothing changes. Editors
                # send this for every file they know when they attach; no error for it.
                client.deliver(self._respond(seq, command, {"breakpoints": []}))
                return
            client.deliver(error_response(seq, command, client.guard.why_not(command), error_id=3))
            return
        if command == "initialize":
            client.deliver(self._respond(seq, command, await self._initialize(args)))
            return
        if command in ("launch", "attach"):
            await self._start(client, seq, command, args)
            return
        if command == "configurationDone" and client.joined_late:
            client.deliver(self._respond(seq, command, {}))
            self._catch_up(client)
            return
        if command == "setBreakpoints":
            await self._set_breakpoints(client, seq, args)
            return
        if command == "disconnect":
            if self.clients != [client]:
                client.deliver(self._respond(seq, command, {}))
                await self.leave(client)
                return
            self._disconnect_sent = True
        mapped = client.paths.walk_to_workspace(args)
        needs = NEEDS.get(command)
        if needs and not (self.capabilities or {}).get(needs):
            client.deliver(
                error_response(seq, command, f"{command} is not supported by this debug adapter (no {needs})")
            )
            return
        if command in CONTROL:
            async with self._control:  # one at a time; a silent adapter holds the others 10 s at most
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._send(command, mapped, Pending(client, seq, command, done=done))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(done), CONTROL_WAIT)
            return
        self._forward(client, seq, command, mapped)

    async def _initialize(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.capabilities is not None:
            return self.capabilities
        if self._init is None:
            self._init = asyncio.get_running_loop().create_future()
            try:
                self._init_args = dict(args)
                await self._ensure_adapter()
                answer = await self._ask("initialize", args)
            except BaseException as exc:
                self._init.set_exception(AdapterError(f"the debug adapter could not start: {exc}"))
                self._init.exception()  # consumed here; waiters get it too
                raise
            if not answer.get("success"):
                self._init = None
                raise AdapterError(str(answer.get("message") or "the debug adapter refused initialize"))
            self.capabilities = answer.get("body") or {}
            self._init.set_result(self.capabilities)
        return await asyncio.shield(self._init)

    async def _start(self, client: DapClient, seq: int, command: str, args: dict[str, Any]) -> None:
        client.paths.set_local_root(args.get("localRoot") if isinstance(args.get("localRoot"), str) else None)
        if self.started:  # a participant joining: the debuggee runs already
            client.joined_late = True
            client.deliver(self._respond(seq, command, {}))
            client.deliver(event("initialized"))
            return
        if self.capabilities is None:
            raise AdapterError(f"{command} before initialize: send initialize first")
        mapped = {k: v for k, v in args.items() if k not in ("localRoot", "pathMappings")}
        mapped = client.paths.walk_to_workspace(mapped, PATH_KEYS | LAUNCH_PATH_KEYS)
        if command == "launch":
            # The debuggee runs on the bridge's host: an editor's terminal is elsewhere.
            mapped["console"] = "internalConsole"
            mapped.setdefault("cwd", str(self.workspace))
            venv_python = self.workspace / ".venv" / "bin" / "python"
            if "python" not in mapped and venv_python.is_file():
                mapped["python"] = [str(venv_python)]
            if isinstance(mapped.get("program"), str) and not posixpath.isabs(mapped["program"]):
                mapped["program"] = client.paths.to_workspace(mapped["program"])
        elif listener_address(mapped) is not None:
            await self._use_listener(*listener_address(mapped))  # type: ignore[misc]
        self.started = command
        self._forward(client, seq, command, mapped)

    async def _use_listener(self, host: str, port: int) -> None:
        """Attach to `debugpy --listen`: that process runs its own adapter, which is the one to
        talk to (ours would wait for a debug server). It gets the same `initialize`."""
        listener = await Adapter.connect(host, port)
        old, self.adapter = self.adapter, listener
        self._reader = asyncio.ensure_future(self._read_adapter(listener))
        answer = await self._ask("initialize", self._init_args)
        if not answer.get("success"):
            raise AdapterError(f"the debugger at {host}:{port} refused initialize: {answer.get('message')}")
        self.capabilities = answer.get("body") or self.capabilities
        if old is not None:
            await old.stop(grace=0.5)

    def _catch_up(self, client: DapClient) -> None:
        """What a late joiner missed: everyone's breakpoints and the current stop."""
        for path, results in self._bp_results.items():
            own = {breakpoint_key(bp) for bp in client.breakpoints.get(path, [])}
            for key, result in results:
                if key not in own and result.get("id") is not None:
                    client.deliver(
                        event("breakpoint", {"reason": "new", "breakpoint": self._with_source(path, result)})
                    )
        if self.stopped is not None:
            client.deliver(event("stopped", {**self.stopped, "preserveFocusHint": False}))

    # -- breakpoints ------------------------------------------------------------------------

    async def _set_breakpoints(self, client: DapClient, seq: int, args: dict[str, Any]) -> None:
        source = args.get("source")
        if not isinstance(source, dict) or not isinstance(source.get("path"), str):
            client.deliver(error_response(seq, "setBreakpoints", "setBreakpoints needs `source.path`"))
            return
        path = client.paths.to_workspace(source["path"])
        wanted = args.get("breakpoints")
        if wanted is None:  # the deprecated `lines` form
            wanted = [{"line": line} for line in args.get("lines") or [] if isinstance(line, int)]
        if not isinstance(wanted, list) or not all(
            isinstance(bp, dict) and isinstance(bp.get("line"), int) for bp in wanted
        ):
            client.deliver(
                error_response(seq, "setBreakpoints", "setBreakpoints: `breakpoints` must be a list of {line: int, …}")
            )
            return
        async with self._bp_lock:
            self._bp_sources[path] = {**client.paths.walk_to_workspace(source), "path": path}
            client.breakpoints[path] = list(wanted)
            if not wanted:
                client.breakpoints.pop(path, None)
            answer = await self._sync_breakpoints(path, client, extra=args.get("sourceModified"))
        if not answer.get("success"):
            self._answer(client, seq, "setBreakpoints", answer)
            return
        results = dict(self._bp_results.get(path, []))
        own = [results.get(breakpoint_key(bp), {"verified": False, "message": "not set"}) for bp in wanted]
        client.deliver(self._respond(seq, "setBreakpoints", {"breakpoints": [self._with_source(path, r) for r in own]}))

    async def _sync_breakpoints(self, path: str, changer: DapClient | None, extra: Any = None) -> dict[str, Any]:
        """Send the union of every client's breakpoints for `path`; tell the others what changed."""
        union: dict[tuple[Any, ...], dict[str, Any]] = {}
        for other in self.clients:
            for bp in other.breakpoints.get(path, []):
                union.setdefault(breakpoint_key(bp), bp)
        arguments: dict[str, Any] = {
            "source": self._bp_sources.get(path, {"path": path}),
            "breakpoints": list(union.values()),
        }
        if extra is not None:
            arguments["sourceModified"] = bool(extra)
        answer = await self._ask("setBreakpoints", arguments)
        if not answer.get("success"):
            return answer
        before = {r.get("id") for _, r in self._bp_results.get(path, []) if r.get("id") is not None}
        got = (answer.get("body") or {}).get("breakpoints") or []
        self._bp_results[path] = list(zip(union.keys(), got, strict=False))
        if not union:
            self._bp_results.pop(path, None)
        after = {r.get("id") for _, r in self._bp_results.get(path, []) if r.get("id") is not None}
        for other in self.clients:
            if other is changer:
                continue
            own = {breakpoint_key(bp) for bp in other.breakpoints.get(path, [])}
            for bp_id in before - after:
                other.deliver(
                    event("breakpoint", {"reason": "removed", "breakpoint": {"id": bp_id, "verified": False}})
                )
            for key, result in self._bp_results.get(path, []):
                if result.get("id") not in before and key not in own:
                    other.deliver(event("breakpoint", {"reason": "new", "breakpoint": self._with_source(path, result)}))
        return answer

    def _with_source(self, path: str, result: dict[str, Any]) -> dict[str, Any]:
        return {**result, "source": result.get("source") or self._bp_sources.get(path, {"path": path})}

    # -- to and from the adapter ----------------------------------------------------------------

    async def _ensure_adapter(self) -> None:
        if self.adapter is None:
            self.adapter = await Adapter.start(self.workspace)
            self._reader = asyncio.ensure_future(self._read_adapter(self.adapter))

    def _send(self, command: str, args: dict[str, Any], pending: Pending) -> None:
        if self.adapter is None:
            raise AdapterError("the debug adapter is not running: send initialize first")
        seq = next(self._seq)
        self._pending[seq] = pending
        message: dict[str, Any] = {"seq": seq, "type": "request", "command": command}
        if args:
            message["arguments"] = args
        try:
            self.adapter.send(message)
        except AdapterError:
            self._pending.pop(seq, None)
            raise

    def _forward(self, client: DapClient, seq: int, command: str, args: dict[str, Any]) -> None:
        self._send(command, args, Pending(client, seq, command))

    async def _ask(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._send(command, args, Pending(None, 0, command, future))
        return await future

    def _respond(self, seq: int, command: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"type": "response", "request_seq": seq, "success": True, "command": command, "body": body}

    def _answer(self, client: DapClient, seq: int, command: str, answer: dict[str, Any]) -> None:
        client.deliver({**answer, "request_seq": seq, "command": command})

    def _client_response(self, client: DapClient, message: dict[str, Any]) -> None:
        """A client's answer to a request the adapter made (runInTerminal, startDebugging)."""
        adapter_seq = client.reverse.pop(message.get("request_seq", -1), None)
        if adapter_seq is None or self.adapter is None:
            return  # answers nothing we asked it: dropped
        out = {**client.paths.walk_to_workspace(message), "request_seq": adapter_seq, "seq": next(self._seq)}
        with contextlib.suppress(AdapterError):
            self.adapter.send(out)

    async def _read_adapter(self, adapter: Adapter) -> None:
        while (message := await adapter.receive()) is not None:
            try:
                self._from_adapter(message)
            except Exception:
                log.exception("debug session %s: a message from the adapter could not be handled", self.id)
        await adapter.wait()
        if not self.ended and adapter is self.adapter:
            await self._adapter_died(adapter)

    def _from_adapter(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "response":
            pending = self._pending.pop(message.get("request_seq", -1), None)
            if pending is None:
                return
            if pending.answer is not None:
                if not pending.answer.done():
                    pending.answer.set_result(message)
            elif pending.client is not None:
                self._answer(pending.client, pending.client_seq, pending.command, message)
            if pending.done is not None and not pending.done.done():
                pending.done.set_result(None)
            if pending.command == "disconnect" and pending.client is not None:
                # The last client disconnected: debugpy's adapter waits for its stdin to end.
                self._spawn(self.end("its last client disconnected"))
            return
        if kind == "event":
            self._track(message)
            for client in list(self.clients):
                client.deliver(message)
            return
        if kind == "request":  # runInTerminal, startDebugging: the first client decides
            target = self.clients[0] if self.clients else None
            if target is None:
                return
            out_seq = next(target.seq)
            target.reverse[out_seq] = message.get("seq", 0)
            body = target.paths.walk_to_editor(message)
            body["seq"] = out_seq
            target.send(json.dumps(body, separators=(",", ":")))

    def _track(self, message: dict[str, Any]) -> None:
        name, body = message.get("event"), message.get("body") or {}
        if name == "stopped":
            self.stopped = dict(body)
        elif name == "continued" or (name == "thread" and body.get("reason") == "exited" and self.stopped
                                     and self.stopped.get("threadId") == body.get("threadId")) or name in ("terminated", "exited"):  # fmt: skip
            self.stopped = None

    async def _adapter_died(self, adapter: Adapter) -> None:
        clean = not self._pending and adapter.clean_exit()
        why = adapter.why()
        for pending in list(self._pending.values()):
            if pending.answer is not None and not pending.answer.done():
                pending.answer.set_result(error_response(0, pending.command, f"the debug adapter stopped ({why})"))
            elif pending.client is not None:
                pending.client.deliver(
                    error_response(pending.client_seq, pending.command, f"the debug adapter stopped ({why})")
                )
            if pending.done is not None and not pending.done.done():
                pending.done.set_result(None)
        self._pending.clear()
        if not clean:
            log.warning("debug session %s: the debug adapter stopped (%s)", self.id, why)
            for client in list(self.clients):
                client.deliver(
                    event(
                        "output",
                        {
                            "category": "important",
                            "output": f"CodeForge: the debug adapter stopped ({why}); the debug session ended.\n",
                        },
                    )
                )
                client.deliver(event("terminated"))
        await self.end("the debug adapter exited" if clean else f"the debug adapter stopped ({why})")

    async def end(self, reason: str) -> None:
        """End the session: the adapter (and with it a launched debuggee) is stopped."""
        if self.ended:
            return
        self.ended, self.end_reason = True, reason
        log.info("debug session %s ended: %s", self.id, reason)
        if self.adapter is not None:
            await self.adapter.stop()
            if self._reader is not None and self._reader is not asyncio.current_task():
                self._reader.cancel()
        self._done.set()
        if self.on_end is not None:
            with contextlib.suppress(Exception):
                await self.on_end()

    async def stop(self) -> None:
        """Stopped by an operation (`bridges.close`) or the owning session's end: the debuggee
        is terminated (launched) or detached from (attached), every client told."""
        if self.ended:  # ending already: let the adapter's stop finish before the bridge goes on
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), 10)
            return
        if self.adapter is not None and self.started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ask("disconnect", {"terminateDebuggee": self.started == "launch"}), 5)
        for client in list(self.clients):
            client.deliver(
                event("output", {"category": "important", "output": "CodeForge: the debug session was stopped.\n"})
            )
            client.deliver(event("terminated"))
        await self.end("stopped")

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_ended(self) -> None:
        await self._done.wait()

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "state": "stopped" if self.stopped else ("running" if self.started else "starting"),
            "request": self.started,
            "clients": [c.label for c in self.clients],
        }
