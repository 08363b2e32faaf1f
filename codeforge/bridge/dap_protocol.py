"""DAP pieces the debug session is made of: the messages the proxy makes itself (error
responses, events), one attached client with its own numbering and paths, what counts as
execution control, and how breakpoints are told apart."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from codeforge.bridge.dap_paths import PathMap

__all__ = [
    "BP_KEYS",
    "CONTROL",
    "GUARDED",
    "DapClient",
    "Guard",
    "Pending",
    "breakpoint_key",
    "error_response",
    "event",
    "listener_address",
]

log = logging.getLogger(__name__)

CONTROL = frozenset(
    {"continue", "next", "stepIn", "stepOut", "stepBack", "reverseContinue", "pause", "goto", "restart",
     "restartFrame", "setVariable", "setExpression", "terminateThreads"}
)  # fmt: skip
# Requests the adapter must declare in its capabilities; debugpy never answers one it does not
# support, which would hold the control queue for everyone: answered with an error instead.
NEEDS = {
    "restart": "supportsRestartRequest",
    "stepBack": "supportsStepBack",
    "reverseContinue": "supportsStepBack",
    "restartFrame": "supportsRestartFrame",
    "terminateThreads": "supportsTerminateThreadsRequest",
    "goto": "supportsGotoTargetsRequest",
    "setExpression": "supportsSetExpression",
    "setVariable": "supportsSetVariable",
}
BP_KEYS = ("line", "column", "condition", "hitCondition", "logMessage")
# What a participant who may not edit (a collaboration guest) is refused: what moves or ends
# the debuggee, changes what stops it, or runs code in it (an expression can call anything).
# Reading stays open: threads, stack traces, scopes, variables, sources.
GUARDED = CONTROL | frozenset(
    {"setBreakpoints", "setFunctionBreakpoints", "setExceptionBreakpoints", "setDataBreakpoints",
     "setInstructionBreakpoints", "terminate", "evaluate", "completions", "stepInTargets", "gotoTargets"}
)  # fmt: skip


class Guard(Protocol):
    """Whether a client may control the debuggee now (collab_seat.Seat)."""

    def may_edit(self) -> bool: ...
    def why_not(self, what: str) -> str: ...


def error_response(request_seq: int, command: str, message: str, *, error_id: int = 1) -> dict[str, Any]:
    """A DAP error response (the `error` body lets clients show the text as is)."""
    return {
        "type": "response",
        "request_seq": request_seq,
        "success": False,
        "command": command,
        "message": message,
        "body": {"error": {"id": error_id, "format": message.replace("{", "{{").replace("}", "}}"), "showUser": True}},
    }


def listener_address(args: dict[str, Any]) -> tuple[str, int] | None:
    """The host and port of an attach to a listening debugpy (`connect` or top-level host/port)."""
    connect = args.get("connect")
    where: dict[str, Any] = connect if isinstance(connect, dict) else args
    port = where.get("port")
    if "processId" in args or not isinstance(port, int | str) or not str(port).isdigit():
        return None
    host = where.get("host") or "127.0.0.1"
    return (str(host), int(port)) if isinstance(host, str) else None


def event(name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "event", "event": name, "body": body or {}}


@dataclass(eq=False)
class DapClient:
    """One attached DAP client (an editor): its outgoing numbering, paths and breakpoints."""

    id: str
    label: str
    send: Callable[[str], None]  # one DAP message as JSON text
    paths: PathMap
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    breakpoints: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # workspace path -> its own
    reverse: dict[int, int] = field(default_factory=dict)  # our seq to it -> the adapter's seq
    joined_late: bool = False
    left: bool = False
    guard: Guard | None = None  # a collaboration participant's role; None: no restriction

    def deliver(self, message: dict[str, Any]) -> None:
        if self.left:
            return
        out = self.paths.walk_to_editor(message)
        out["seq"] = next(self.seq)
        try:
            self.send(json.dumps(out, separators=(",", ":")))
        except Exception:  # its link ended meanwhile: it is leaving
            log.debug("client %s could not take a message", self.id)


@dataclass
class Pending:
    client: DapClient | None
    client_seq: int
    command: str
    answer: asyncio.Future[dict[str, Any]] | None = None  # the proxy's own question: answered here
    done: asyncio.Future[None] | None = None  # a control request's answer was delivered (or never will be)


def breakpoint_key(bp: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(bp.get(k) for k in BP_KEYS)
