"""The session's lifetime, told to every `SessionHook` (`contributions.py`).

`initialized` starts the session: each hook's `on_start` runs once. A client that sends
documents without ever sending `initialized` (LSP requires it, but a resumed session might
skip it) starts the session at its first document event instead. `shutdown` stops it: each
hook's `on_stop` runs, then the session's platform client is closed; an `exit` without a
`shutdown` stops it too. A session that never started stops no hook.

Plain-function hooks run inside the notification, in contribution order; coroutine hooks
then run side by side as the session's tasks. `on_start` coroutines are not waited for (a
slow first refresh must not hold the others); `on_stop` coroutines are, up to `STOP_WAIT_S`,
so a hook can still tell the platform before the client closes. A hook that fails is logged
and stops no other.

This feature registers `initialized`, `shutdown` and `exit`: a capability contributes a
`SessionHook` instead of a notification handler for them (`Contributions.add` refuses one).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from lsprotocol import types

from codeforge.lsp.contributions import Contributions, DocumentEvent, DocumentSubscriber, SessionHook
from codeforge.lsp.session import CodeForgeSession

__all__ = ["STOP_WAIT_S", "Lifetime", "register", "start", "stop"]

log = logging.getLogger(__name__)

STOP_WAIT_S = 5.0  # how long shutdown waits for the hooks' on_stop coroutines

Phase = Literal["new", "started", "stopped"]


@dataclass
class Lifetime:
    """Per session: where it is in its life."""

    phase: Phase = "new"


def _hooks(ls: CodeForgeSession) -> list[SessionHook]:
    return ls.state(Contributions).session_hooks


async def _guarded(name: str, what: str, pending: Awaitable[None]) -> None:
    try:
        await pending
    except Exception:
        log.exception("session hook %s failed to %s", name, what)


def _run(
    ls: CodeForgeSession,
    what: str,
    calls: list[tuple[str, Callable[[CodeForgeSession], Awaitable[None] | None]]],
) -> list[Coroutine[Any, Any, None]]:
    """Call each hook; the coroutines they return, guarded, to be awaited or spawned."""
    pending: list[Coroutine[Any, Any, None]] = []
    for name, call in calls:
        try:
            out = call(ls)
        except Exception:
            log.exception("session hook %s failed to %s", name, what)
            continue
        if inspect.isawaitable(out):
            pending.append(_guarded(name, what, out))
    return pending


def start(ls: CodeForgeSession) -> None:
    """Start the session's hooks, once; nothing after it stopped."""
    lifetime = ls.state(Lifetime)
    if lifetime.phase != "new":
        return
    lifetime.phase = "started"
    for pending in _run(ls, "start", [(h.name, h.on_start) for h in _hooks(ls)]):
        ls.spawn(pending)


async def stop(ls: CodeForgeSession) -> None:
    """Stop the session's hooks, once (only if they started); waits up to `STOP_WAIT_S` for
    their coroutines."""
    lifetime = ls.state(Lifetime)
    started = lifetime.phase == "started"
    lifetime.phase = "stopped"
    if not started:
        return
    pending = _run(ls, "stop", [(h.name, h.on_stop) for h in _hooks(ls) if h.on_stop is not None])
    if not pending:
        return
    waiting = asyncio.gather(*pending)
    try:
        await asyncio.wait_for(waiting, STOP_WAIT_S)
    except TimeoutError:
        log.warning("session hooks still stopping after %g s; shutting down anyway", STOP_WAIT_S)


def _on_document(ls: CodeForgeSession, event: DocumentEvent) -> None:
    start(ls)  # a client that never sent `initialized`


def register(ls: CodeForgeSession, contributions: Contributions) -> None:
    # First among the document subscribers, so hooks have started before any handles the event.
    contributions.documents.insert(0, DocumentSubscriber("session start", _on_document))

    @ls.feature(types.INITIALIZED)
    def initialized(ls: CodeForgeSession, params: Any) -> None:
        start(ls)

    @ls.feature(types.SHUTDOWN)
    async def shutdown(ls: CodeForgeSession, params: None) -> None:
        await stop(ls)
        await ls.close()

    @ls.feature(types.EXIT)
    async def exit_(ls: CodeForgeSession, params: None) -> None:
        # After a shutdown this finds the session stopped already.
        await stop(ls)
        await ls.close()
