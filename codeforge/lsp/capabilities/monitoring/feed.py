"""The editor feed: alert and error notifications as they happen (docs/monitoring.md).

One background task per session long-polls `monitoring.notifications {after, wait_s}` for the
session's project, started when the session is initialized and only when the platform has
that operation (an older platform: no feed, no error). Each item is shown with
`window/showMessageRequest` and an "Open" action that opens its pane (`panes.open {pane,
item}`, which the editor shows with `window/showDocument`); an item of kind `error.*` also
refreshes the production-error diagnostics. Notifications made before the session started are
not shown again (the alerts pane lists them); those made since are, even when they came in
before the feed's first call (their `created_at` against the session's start).

A failing call (the platform away, a refusal) backs off from 1 s to `MAX_BACKOFF_S`. The feed
is a `SessionHook`'s (`__init__.py`): `start_feed` when the session starts, `stop_feed` on
shutdown or exit, which cancels the long-poll; the bridge also cancels the session's tasks
when its link ends.
Never shows a secret: the text goes through the same masking as command summaries, and
`key=value` pairs that look like credentials are masked too.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from codeforge import catalog
from codeforge.catalog.base import operation
from codeforge.catalog.errors import CodeForgeError
from codeforge.catalog.secrets import MASK, mask_url_passwords
from codeforge.lsp.capabilities.monitoring import diagnostics
from codeforge.lsp.commands import run_operation
from codeforge.lsp.session import CodeForgeSession

__all__ = [
    "FEED_OP",
    "MAX_SHOWN",
    "OPEN",
    "Feed",
    "mask_secrets",
    "notification_text",
    "start_feed",
    "stop_feed",
]

log = logging.getLogger(__name__)

FEED_OP = "monitoring.notifications"
OPEN = "Open"
WAIT_S = 20  # long-poll; under the session client's 30 s timeout
MAX_BACKOFF_S = 60.0
MAX_SHOWN = 5  # notifications shown from one answer; the rest as one "and N more"
MAX_TEXT = 400
CATCH_UP_PAGES = 50  # pages read (not shown) at start to find where "now" is

_CREDENTIAL = re.compile(
    r"(?i)\b((?:[a-z_]*[_-])?(?:token|password|passwd|secret|api[_-]?key|authorization|cookie)\s*[=:]\s*)"
    r"(?:bearer\s+)?[^\s,;&\"']+"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")


def mask_secrets(text: str) -> str:
    """The text with URL passwords, `token=…`-like values and bearer tokens masked."""
    text = mask_url_passwords(text)
    text = _CREDENTIAL.sub(lambda m: m.group(1) + MASK, text)
    return _BEARER.sub(lambda m: m.group(1) + MASK, text)


def notification_text(item: dict[str, Any]) -> str:
    title = str(item.get("title") or item.get("kind") or "Monitoring")
    message = str(item.get("message") or "")
    text = f"CodeForge: {title}" + (f": {message}" if message and message != title else "")
    text = mask_secrets(" ".join(text.split()))
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _message_type(kind: str) -> types.MessageType:
    if kind.startswith("error.") or kind.endswith(".firing") or kind == "firing":
        return types.MessageType.Error if kind.startswith("error.") else types.MessageType.Warning
    return types.MessageType.Info


@dataclass
class Feed:
    """Per session: the long-poll task and where it is in the feed."""

    task: asyncio.Task[None] | None = None
    cursor: Any = None
    shown: int = 0  # notifications shown, for the log and tests
    stopped: bool = False  # the session is ending: show nothing more, start nothing
    since: datetime = field(default_factory=lambda: datetime.now(UTC))  # when the session started


def _closing(ls: CodeForgeSession) -> bool:
    return ls.state(Feed).stopped


async def _has_operation(ls: CodeForgeSession) -> bool:
    try:
        operation(FEED_OP)
    except CodeForgeError:
        return False  # this codeforge knows no such operation
    listed = await ls.platform.catalog()
    return any(isinstance(entry, dict) and entry.get("name") == FEED_OP for entry in listed)


async def _poll(ls: CodeForgeSession, project: str, after: Any, wait_s: int) -> tuple[list[dict[str, Any]], Any]:
    data: dict[str, Any] = {"project": project, "wait_s": wait_s}
    if after is not None:
        data["after"] = after
    answer = await ls.platform.call(operation(FEED_OP), data)
    body = answer.model_dump(mode="json") if hasattr(answer, "model_dump") else answer
    items = [i for i in (body.get("items") or []) if isinstance(i, dict)] if isinstance(body, dict) else []
    cursor = body.get("cursor") if isinstance(body, dict) else None
    if cursor is None and items:
        cursor = items[-1].get("id", after)
    return items, after if cursor is None else cursor


async def _open(ls: CodeForgeSession, item: dict[str, Any]) -> None:
    data: dict[str, Any] = {"pane": str(item["pane"])}
    if item.get("item") not in (None, ""):
        data["item"] = str(item["item"])
    if item.get("project"):
        data["project"] = str(item["project"])
    try:
        await run_operation(ls, catalog.panes.OPEN, data)
    except CodeForgeError as exc:
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=f"could not open the pane: {exc.message}")
        )


async def show(ls: CodeForgeSession, item: dict[str, Any]) -> None:
    """One notification, with "Open" when it names a pane; opens it when chosen."""
    kind = str(item.get("kind") or "")
    actions = [types.MessageActionItem(title=OPEN)] if item.get("pane") else None
    ls.state(Feed).shown += 1
    try:
        chosen = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(type=_message_type(kind), message=notification_text(item), actions=actions)
        )
    except JsonRpcException as exc:  # an editor without showMessageRequest
        log.info("notification not shown: %s", exc)
        return
    if chosen is not None and chosen.title == OPEN and item.get("pane"):
        await _open(ls, item)


def _show_all(ls: CodeForgeSession, items: list[dict[str, Any]]) -> None:
    shown = items if len(items) <= MAX_SHOWN else items[: MAX_SHOWN - 1]
    for item in shown:
        ls.spawn(show(ls, item))
    if len(shown) < len(items):
        rest = len(items) - len(shown)
        ls.spawn(show(ls, {"kind": "summary", "title": f"{rest} more monitoring notification(s)", "pane": "alerts"}))
    if any(str(i.get("kind") or "").startswith("error.") for i in items):
        ls.spawn(diagnostics.refresh(ls))


def _made_since(item: dict[str, Any], since: datetime) -> bool:
    try:
        made = datetime.fromisoformat(str(item.get("created_at") or "").replace("Z", "+00:00"))
    except ValueError:
        return False
    return (made if made.tzinfo else made.replace(tzinfo=UTC)) >= since


async def _catch_up(ls: CodeForgeSession, project: str) -> tuple[Any, list[dict[str, Any]]]:
    """The cursor after everything already in the feed, and what of it was made since the
    session started (to be shown: the rest was read, not shown)."""
    since = ls.state(Feed).since
    after, fresh = None, []
    for _ in range(CATCH_UP_PAGES):
        items, cursor = await _poll(ls, project, after, 0)
        fresh += [item for item in items if _made_since(item, since)]
        if not items or cursor == after:
            return cursor, fresh
        after = cursor
    return after, fresh


async def _follow(ls: CodeForgeSession) -> None:
    feed = ls.state(Feed)
    backoff = 1.0
    started = False
    while not _closing(ls):
        where = diagnostics.monitored_project(ls)
        project = where.project if where is not None else ls.context_project()
        try:
            if not project:
                raise LookupError("no project")
            if not started:
                if not await _has_operation(ls):
                    log.info("the platform has no %s: no editor feed", FEED_OP)
                    return
                feed.cursor, fresh = await _catch_up(ls, project)
                started = True
                if fresh:
                    _show_all(ls, fresh)
            items, feed.cursor = await _poll(ls, project, feed.cursor, WAIT_S)
        except (CodeForgeError, LookupError) as exc:
            log.info("editor feed: %s; again in %.0f s", getattr(exc, "message", exc), backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        except Exception:  # shutting down (the client closed under the call), or a bug
            await asyncio.sleep(1.0)
            if not _closing(ls):
                log.exception("editor feed failed")
                await asyncio.sleep(MAX_BACKOFF_S)
            continue
        backoff = 1.0
        if items and not _closing(ls):
            _show_all(ls, items)


def start_feed(ls: CodeForgeSession) -> None:
    """Start the session's feed (once: a platform without the operation is not asked again)."""
    feed = ls.state(Feed)
    if feed.task is None and not feed.stopped:
        feed.task = ls.spawn(_follow(ls))


def stop_feed(ls: CodeForgeSession) -> None:
    """End the session's feed: its long-poll is cancelled and nothing more is shown."""
    feed = ls.state(Feed)
    feed.stopped = True
    if feed.task is not None and not feed.task.done():
        feed.task.cancel()
