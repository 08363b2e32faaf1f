"""didOpen, didChange, didSave and didClose, fanned out to every subscribing feature.

No feature owns a document notification: diagnostics, the databases capability's migration
checks and, later, collaboration each add a `DocumentSubscriber` (see `contributions.py`).
The text is synchronised incrementally (the server advertises
`TextDocumentSyncKind.Incremental`): pygls' workspace applies each edit before the
subscribers hear of it, so they read the document's current text from the workspace and
find the edits themselves in `event.params.content_changes`.

Plain-function handlers run inside the notification, in subscription order; coroutine
handlers then run side by side in a task. A subscriber that fails is logged and does not stop the others.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from typing import Any

from lsprotocol import types

from codeforge.lsp.contributions import Contributions, DocumentEvent, DocumentSubscriber, EventKind
from codeforge.lsp.session import CodeForgeSession

__all__ = ["dispatch", "register"]

log = logging.getLogger(__name__)


async def _guarded(subscriber: DocumentSubscriber, event: DocumentEvent, pending: Awaitable[None]) -> None:
    try:
        await pending
    except Exception:
        log.exception("%s failed on %s of %s", subscriber.name, event.kind, event.uri)


def dispatch(
    ls: CodeForgeSession, subscribers: list[DocumentSubscriber], event: DocumentEvent
) -> asyncio.Task[Any] | None:
    """Run the plain handlers now and the coroutine handlers in a task (returned; None when
    there are none). Running the plain ones inside the notification keeps them in the order
    the editor sent its edits."""
    pending: list[Awaitable[None]] = []
    for subscriber in subscribers:
        if event.kind not in subscriber.events:
            continue
        try:
            if not subscriber.wants(ls, event.uri):
                continue
            out = subscriber.handle(ls, event)
        except Exception:
            log.exception("%s failed on %s of %s", subscriber.name, event.kind, event.uri)
            continue
        if inspect.isawaitable(out):
            pending.append(_guarded(subscriber, event, out))
    if not pending:
        return None

    async def gather() -> None:
        await asyncio.gather(*pending)

    return ls.spawn(gather())


def register(ls: CodeForgeSession, contributions: Contributions) -> None:
    subscribers = contributions.documents

    def fan_out(ls: CodeForgeSession, kind: EventKind, uri: str, params: Any) -> None:
        dispatch(ls, subscribers, DocumentEvent(kind, uri, params))

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: Any, params: types.DidOpenTextDocumentParams) -> None:
        fan_out(ls, "open", params.text_document.uri, params)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: Any, params: types.DidChangeTextDocumentParams) -> None:
        fan_out(ls, "change", params.text_document.uri, params)

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: Any, params: types.DidSaveTextDocumentParams) -> None:
        fan_out(ls, "save", params.text_document.uri, params)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: Any, params: types.DidCloseTextDocumentParams) -> None:
        fan_out(ls, "close", params.text_document.uri, params)
