"""A finished command's one-line summary, shown with `window/showMessage`.

The summary is derived from the result's shape, never from the operation's name, and
leaves values out: a result may carry a secret (`env.reveal`) or a token (`tokens.create`),
and editors keep message history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from codeforge.catalog import Operation

if TYPE_CHECKING:
    from codeforge.lsp.server import CodeForgeLanguageServer

__all__ = ["show_result", "summarize"]

# Result keys whose values are never shown in a message.
_HIDDEN = frozenset({"value", "token", "password", "secret_value", "content", "url"})
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
    parts = []
    for key, value in result.items():
        # Timestamps are noise in a one-line summary.
        if key in _HIDDEN or key.endswith("_at") or not _scalar(value):
            continue
        if isinstance(value, list):
            value = len(value)
        parts.append(f"{key} {str(value).lower() if isinstance(value, bool) else value}")
        if len(parts) == _MAX_FIELDS:
            break
    return f"{op.title}: done" + (f" ({', '.join(parts)})" if parts else "")


def show_result(ls: CodeForgeLanguageServer, op: Operation[Any, Any], result: Any) -> None:
    mode = ls.settings.show_results
    if mode == "none" or (mode == "changes" and op.verb in _READ_VERBS):
        return
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=summarize(op, result)))
