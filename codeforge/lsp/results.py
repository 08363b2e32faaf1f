"""A finished command's one-line summary, shown with `window/showMessage`.

The summary is derived from the result's shape, never from the operation's name. Editors keep
message history, so it leaves out every field the operation's output schema marks secret
(`env.reveal`'s value, `tokens.create`'s token, `databases.reveal`'s URLs) and masks the
password of any URL in it (codeforge/catalog/secrets.py), even for an explicit reveal.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from codeforge.catalog import Operation
from codeforge.catalog.panes import PANE_MARKER
from codeforge.catalog.secrets import mask_output, output_schema

if TYPE_CHECKING:
    from codeforge.lsp.session import CodeForgeSession

__all__ = ["is_pane", "open_pane", "show_result", "summarize"]

log = logging.getLogger(__name__)

_MAX_FIELDS = 4
# Verbs that only read. The catalog has no read-only flag yet; these verbs are the convention.
_READ_VERBS = frozenset({"list", "get", "show", "whoami", "reveal", "status"})


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not (isinstance(value, str) and len(value) > 60)


def summarize(op: Operation[Any, Any], result: Any) -> str:
    if not isinstance(result, dict):
        return f"{op.title}: done"
    items = result.get("items")
    if isinstance(items, list):
        return f"{op.title}: {len(items)} item(s)"
    shown = mask_output(result, output_schema(op), omit=True)
    parts = []
    for key, value in shown.items():
        # Timestamps are noise in a one-line summary; a pane's link carries a signed token
        # that opens the page without signing in.
        if key.endswith("_at") or not _scalar(value) or (key == "url" and is_pane(op)):
            continue
        if isinstance(value, list):
            value = len(value)
        parts.append(f"{key} {str(value).lower() if isinstance(value, bool) else value}")
        if len(parts) == _MAX_FIELDS:
            break
    return f"{op.title}: done" + (f" ({', '.join(parts)})" if parts else "")


def show_result(ls: CodeForgeSession, op: Operation[Any, Any], result: Any) -> None:
    mode = ls.settings.show_results
    if mode == "none" or (mode == "changes" and op.verb in _READ_VERBS):
        return
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=summarize(op, result)))


def is_pane(op: Operation[Any, Any]) -> bool:
    """Whether the operation answers with a link the editor opens (`x-codeforge-pane`)."""
    return bool(output_schema(op).get(PANE_MARKER))


async def open_pane(ls: CodeForgeSession, op: Operation[Any, Any], result: Any) -> None:
    """Ask the editor to show a pane's page (`window/showDocument`, inside the editor).

    A client that refuses or lacks the request leaves the command's result as it was: the
    link is in it, so the editor can still open it itself."""
    url = result.get("url") if isinstance(result, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return
    window = ls.client_capabilities.window
    if not (window and window.show_document and window.show_document.support):
        return  # the client opens the link from the result itself, if at all
    try:
        shown = await ls.window_show_document_async(types.ShowDocumentParams(uri=url, external=False))
    except JsonRpcException as exc:
        log.info("%s: the editor did not open the pane: %s", op.command, exc)
        return
    if shown is not None and not shown.success:
        log.info("%s: the editor could not show the pane", op.command)
